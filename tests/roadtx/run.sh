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

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
