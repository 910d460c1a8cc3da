#!/usr/bin/env bash
# roadtx, unmodified from PyPI, against ztd in the lab set-up of docs/lab-ingress.md: ztd serves under its lab
# root with the CONNECT proxy, and roadtx reaches "login.microsoftonline.com" and "graph.microsoft.com" through
# that proxy (-p ... -s, with the root as REQUESTS_CA_BUNDLE). Prints "N passed, M failed" last.
#
# Environment: ZTD_BIN (default target/debug/ztd), ZTD_ROADTX_VENV (default target/roadtx-venv), PYTHON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
venv="${ZTD_ROADTX_VENV:-$root/target/roadtx-venv}"
stamp="$venv/.ztd-requirements"
if [ ! -x "$venv/bin/roadtx" ] || ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  echo "== creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" -c "$here/constraints.txt"
  cp "$here/requirements.txt" "$stamp"
fi
bin="${ZTD_BIN:-$root/target/debug/ztd}"
[ -x "$bin" ] || { echo "no ztd binary at $bin" >&2; echo "0 passed, 1 failed"; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ztd-roadtx.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
proxy="$(free_port)"
"$bin" serve --data-dir "$tmp/data" --listen "127.0.0.1:$port" --lab-tls --lab-proxy "127.0.0.1:$proxy" \
  >"$tmp/server.log" 2>&1 &
server_pid=$!
ca="$tmp/data/lab-ca.pem"
for _ in $(seq 1 150); do
  [ -s "$ca" ] && curl -sf --cacert "$ca" "https://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -sf --cacert "$ca" "https://127.0.0.1:$port/health" >/dev/null || { cat "$tmp/server.log" >&2; echo "0 passed, 1 failed"; exit 1; }

# An administrator user, created through Graph with the first start's application credential.
cred="$tmp/data/credentials.json"
tenant="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenantId"])' "$cred")"
token="$(curl -sf --cacert "$ca" -X POST "https://127.0.0.1:$port/$tenant/oauth2/v2.0/token" \
  -d grant_type=client_credentials \
  --data-urlencode "client_id=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["clientId"])' "$cred")" \
  --data-urlencode "client_secret=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["clientSecret"])' "$cred")" \
  --data-urlencode scope=https://graph.microsoft.com/.default | "$python" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
user="roadtx.admin@contoso.example"
password="R0adtx-$(date +%s)!"
curl -sf --cacert "$ca" -X POST "https://127.0.0.1:$port/v1.0/users" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' \
  -d "{\"accountEnabled\":true,\"displayName\":\"roadtx admin\",\"mailNickname\":\"rt\",\"userPrincipalName\":\"$user\",\"passwordProfile\":{\"password\":\"$password\",\"forceChangePasswordNextSignIn\":false},\"ztdRole\":\"administrator\"}" >/dev/null

cd "$tmp"
export REQUESTS_CA_BUNDLE="$ca"
roadtx() { "$venv/bin/roadtx" -p "127.0.0.1:$proxy" -s "$@"; }
passed=0
failed=0
check() { # check NAME COMMAND...: the command's success is the test's
  local name=$1; shift
  if out="$("$@" 2>&1)"; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name"; echo "$out" | tail -n 8 | sed 's/^/     /'; failed=$((failed + 1))
  fi
}
# `roadtx describe` prints the token's header and claims as two JSON documents; read the claims.
claims_have() { # claims_have KEY VALUE...
  "$venv/bin/roadtx" describe </dev/null | "$python" -c '
import json, sys
text = sys.stdin.read()
decoder = json.JSONDecoder()
_, end = decoder.raw_decode(text)
claims, _ = decoder.raw_decode(text[end:].lstrip())
pairs = sys.argv[1:]
bad = [(k, v, claims.get(k)) for k, v in zip(pairs[::2], pairs[1::2]) if str(claims.get(k)) != v]
print(json.dumps(claims, indent=1)) if bad else None
sys.exit(1 if bad else 0)' "$@"
}

check "gettokens -u -p -r drs (user realm, then the v1 password grant for the DRS resource)" \
  roadtx gettokens -u "$user" -p "$password" -r drs
check "describe: aud is the device registration service, upn and tid are the user's" \
  claims_have aud urn:ms-drs:enterpriseregistration.windows.net upn "$user" tid "$tenant" ver 1.0
check "gettokens -u -p -r msgraph" roadtx gettokens -u "$user" -p "$password" -r msgraph
check "describe: a Graph token" claims_have aud https://graph.microsoft.com upn "$user"
check "graphrequest https://graph.microsoft.com/v1.0/users lists the user, through the proxy" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s graphrequest https://graph.microsoft.com/v1.0/users | grep -q '\"$user\"'"
check "a wrong password is refused with AADSTS50126" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s gettokens -u $user -p Wrong-passw0rd -r msgraph 2>&1 | grep -q AADSTS50126"
check "an unknown user is refused with AADSTS50034" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s gettokens -u nobody@contoso.example -p Wrong-passw0rd -r msgraph 2>&1 | grep -q AADSTS50034"

# The device side (docs/device-registration.md): join, register, PRT, PRT use, delete, and the refusals.
admin() { curl -sf --cacert "$ca" "https://127.0.0.1:$port$1" -H "Authorization: Bearer $token"; }
graph_device() { # graph_device NAME: the device object named NAME, or {} when there is none
  admin "/v1.0/devices?%24filter=displayName%20eq%20'$1'" | "$python" -c 'import json,sys; v=json.load(sys.stdin)["value"]; print(json.dumps(v[0] if v else {}))'
}
object_has() { # object_has NAME KEY VALUE...: the Graph device object's properties
  local name=$1; shift
  graph_device "$name" | "$python" -c '
import json, sys
o = json.load(sys.stdin)
pairs = sys.argv[1:]
bad = [(k, v, o.get(k)) for k, v in zip(pairs[::2], pairs[1::2]) if str(o.get(k)) != v]
print(bad) if bad else None
sys.exit(1 if bad else 0)' "$@"
}
device_gone() { test "$(graph_device "$1")" = "{}"; }
owner_is() { # owner_is NAME UPN
  local id
  id="$(graph_device "$1" | "$python" -c 'import json,sys; print(json.load(sys.stdin).get("id", ""))')"
  [ -n "$id" ] && admin "/v1.0/devices/$id/registeredOwners" | grep -q "\"$2\""
}
cert_cn() { "$python" -c 'import sys; from cryptography import x509; c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read()); print(c.subject.rfc4514_string().split("=", 1)[1])' "$1"; }
check "gettokens -r drs for the joins" roadtx gettokens -u "$user" -p "$password" -r drs
check "device -a join: a certificate and key for the joined device" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s device -a join -n ZTDRT01 && test -s ztdrt01.pem && test -s ztdrt01.key"
device_id="$(cert_cn ztdrt01.pem 2>/dev/null || true)"
check "Graph: the joined object is enabled, AzureAd, its deviceId the certificate's subject" \
  object_has ZTDRT01 accountEnabled True trustType AzureAd deviceId "$device_id" operatingSystem Windows
check "Graph: the joining user is the device's registered owner" owner_is ZTDRT01 "$user"
check "device -a register: a registered (Workplace) device" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s device -a register -n ZTDRT02 >/dev/null && test -s ztdrt02.pem"
check "Graph: the registered object's trustType is Workplace" object_has ZTDRT02 trustType Workplace accountEnabled True
check "prt -a request with the joined device's certificate and key" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s prt -a request -c ztdrt01.pem -k ztdrt01.key -u $user -p '$password' && test -s roadtx.prt"
check "prt -a renew" roadtx prt -a renew
check "prtauth -r msgraph: a Graph token through the PRT" roadtx prtauth -r msgraph
check "describe: the token through the PRT carries the device id" \
  claims_have aud https://graph.microsoft.com upn "$user" deviceid "$device_id"
check "graphrequest /v1.0/devices with that token lists the joined device" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s graphrequest https://graph.microsoft.com/v1.0/devices | grep -q '$device_id'"
check "prtauth -r enrollment: a token for MDM enrollment through the PRT" roadtx prtauth -c 29d9ed98-a469-4536-ade2-f981bc1d605e -r https://enrollment.manage.microsoft.com/
"$python" -c '
import sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
der = bytearray(x509.load_pem_x509_certificate(open("ztdrt01.pem", "rb").read()).public_bytes(Encoding.DER))
der[-1] ^= 1
import base64, textwrap
open("tampered.pem", "w").write("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(base64.b64encode(bytes(der)).decode(), 64)) + "\n-----END CERTIFICATE-----\n")
'
check "a tampered certificate is refused (AADSTS50155)" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s prt -a request -c tampered.pem -k ztdrt01.key -u $user -p '$password' 2>&1 | grep -q AADSTS50155"
check "a forged request_nonce is refused (AADSTS50013)" \
  "$venv/bin/python" "$here/device_checks.py" forged "$proxy" "$ca" ztdrt01.pem ztdrt01.key "$user" "$password"
check "a replayed device-signed request is refused (AADSTS50013)" \
  "$venv/bin/python" "$here/device_checks.py" replay "$proxy" "$ca" ztdrt01.pem ztdrt01.key "$user" "$password"
check "device -a delete with the device certificate over mutual TLS" \
  env HTTPS_PROXY="http://127.0.0.1:$proxy" "$venv/bin/roadtx" device -a delete -c ztdrt01.pem -k ztdrt01.key
check "Graph: the deleted device is gone" device_gone ZTDRT01
check "the deleted device's certificate is refused (AADSTS50155)" \
  sh -c "\"$venv/bin/roadtx\" -p 127.0.0.1:$proxy -s prt -a request -c ztdrt01.pem -k ztdrt01.key -u $user -p '$password' 2>&1 | grep -q AADSTS50155"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
