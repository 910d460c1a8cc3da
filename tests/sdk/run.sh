#!/usr/bin/env bash
# End-to-end check that the unmodified Microsoft Graph Python SDKs (msgraph-beta-sdk, msgraph-sdk) and
# azure-identity work against ztd: builds (or reuses) the ztd binary, serves it over HTTPS with a throw-away
# CA, runs tests/sdk/test_sdk.py and always stops the server. Prints "N passed, M failed" last.
#
# Environment:
#   ZTD_BIN          ztd binary to use (default: `cargo build -p ztd`, i.e. target/debug/ztd, a no-op after CI's
#                    nextest run; ZTD_SDK_PROFILE=release builds and uses target/release/ztd)
#   ZTD_SDK_VENV     virtualenv directory (default: target/sdk-venv; recreated when requirements.txt changes)
#   PYTHON           interpreter for the venv (default: python3)
#   ZTD_SDK_KEEP     1 keeps the temporary directory (server log, data dir, certificates)
#   ZTD_SDK_CERTS    "cryptography" to make the certificates with Python instead of the openssl CLI
#
# If `ztd serve --tls-cert` does not come up, that is reported as a failure and the tests still run against
# ztd on plain HTTP behind tls_proxy.py (the SDK credential insists on an https authority).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
start_time=$(date +%s)

fail() {
  echo "error: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

# --- Python environment ---------------------------------------------------------------------------------
python="${PYTHON:-python3}"
venv="${ZTD_SDK_VENV:-$root/target/sdk-venv}"
stamp="$venv/.ztd-requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  echo "== creating $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" || fail "cannot create a virtualenv with $python"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r "$here/requirements.txt" -c "$here/constraints.txt" || fail "pip install failed"
  cp "$here/requirements.txt" "$stamp"
fi
py="$venv/bin/python"

# --- ztd binary -------------------------------------------------------------------------------------------
# $ZTD_BIN if set; else `cargo build -p ztd` (a no-op when CI's nextest run already built it; set
# ZTD_SDK_PROFILE=release for an optimised build).
if [ -n "${ZTD_BIN:-}" ]; then
  bin="$ZTD_BIN"
else
  profile="${ZTD_SDK_PROFILE:-dev}"
  echo "== cargo build --profile $profile -p ztd"
  cargo build -q --profile "$profile" -p ztd || fail "cargo build failed"
  if [ "$profile" = dev ]; then bin="$root/target/debug/ztd"; else bin="$root/target/$profile/ztd"; fi
fi
[ -x "$bin" ] || fail "no ztd binary at $bin"
echo "== ztd: $bin ($("$bin" --version))"

# --- temporary directory, certificates ---------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ztd-sdk.XXXXXX")"
server_pid=""
proxy_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; fi
  if [ "${ZTD_SDK_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$py" "$here/certs.py" "$tmp" || fail "certificate generation failed"


# --- server -----------------------------------------------------------------------------------------------
health() { # health PORT: 0 when https://127.0.0.1:PORT/health answers 200, trusting only the test CA
  "$py" - "$1" "$tmp/ca.pem" <<'EOF' 2>/dev/null
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(f"https://127.0.0.1:{sys.argv[1]}/health", context=ctx, timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}
wait_healthy() { # wait_healthy PORT PID...: 0 once healthy, 1 when a process died or after 30 s
  local p=$1; shift
  for _ in $(seq 1 150); do
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null || return 1; done
    health "$p" && return 0
    sleep 0.2
  done
  return 1
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$tmp/data"
port="$(free_port)"
# The lab set-up of docs/lab-ingress.md: ztd's own root, a certificate that also covers Microsoft's host
# names, and the loopback CONNECT proxy that sign-in clients (MSAL) are pointed at.
proxy_port="$(free_port)"
"$bin" serve --data-dir "$tmp/data" --listen "127.0.0.1:$port" \
  --lab-tls --lab-proxy "127.0.0.1:$proxy_port" >"$tmp/server.log" 2>&1 &
server_pid=$!
: >"$tmp/preflight"
for _ in $(seq 1 100); do [ -s "$tmp/data/lab-ca.pem" ] && break; sleep 0.1; done
[ -s "$tmp/data/lab-ca.pem" ] && cp "$tmp/data/lab-ca.pem" "$tmp/ca.pem"
if wait_healthy "$port" "$server_pid"; then
  echo "== ztd serving https://127.0.0.1:$port (native TLS, lab root), lab proxy on 127.0.0.1:$proxy_port"
else
  # Record the failure (it counts as a failed test) and keep going behind a TLS-terminating proxy, so the
  # SDK flows are still exercised.
  reason="$(grep -m1 -A2 "panicked" "$tmp/server.log" | tr -s '\n ' ' ' | cut -c1-400)"
  echo "FAIL ztd serve --tls-cert: the server did not become healthy over HTTPS: ${reason:-see the server log}"
  echo "ztd serve --tls-cert: ${reason:-no health}" >>"$tmp/preflight"
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  backend="$(free_port)"
  "$bin" serve --data-dir "$tmp/data" --listen "127.0.0.1:$backend" >>"$tmp/server.log" 2>&1 &
  server_pid=$!
  "$py" "$here/tls_proxy.py" "$port" "$backend" "$tmp/server.pem" "$tmp/server-key.pem" >"$tmp/proxy.log" 2>&1 &
  proxy_pid=$!
  if ! wait_healthy "$port" "$server_pid" "$proxy_pid"; then
    echo "--- server log" >&2; cat "$tmp/server.log" >&2 || true
    echo "--- proxy log" >&2; cat "$tmp/proxy.log" >&2 || true
    fail "ztd did not become healthy on https://127.0.0.1:$port (plain HTTP behind the test TLS proxy)"
  fi
  echo "== ztd serving http://127.0.0.1:$backend behind the test TLS proxy at https://127.0.0.1:$port"
fi
[ -s "$tmp/data/credentials.json" ] || fail "ztd wrote no $tmp/data/credentials.json"

# --- tests ---------------------------------------------------------------------------------------------------
set +e
SSL_CERT_FILE="$tmp/ca.pem" REQUESTS_CA_BUNDLE="$tmp/ca.pem" \
  ZTD_URL="https://127.0.0.1:$port" ZTD_PROXY="http://127.0.0.1:$proxy_port" ZTD_CREDENTIALS="$tmp/data/credentials.json" ZTD_DATA_DIR="$tmp/data" ZTD_BIN="$bin" ZTD_SDK_SUMMARY="$tmp/summary" ZTD_SDK_PREFLIGHT="$tmp/preflight" \
  "$py" "$here/test_sdk.py"
rc=$?
# Configuration as code: back up, restore into another tenant, diff, push one change (plain HTTP).
echo "== round trip (tests/sdk/roundtrip.py)"
SSL_CERT_FILE="$tmp/ca.pem" ZTD_URL="https://127.0.0.1:$port" ZTD_CREDENTIALS="$tmp/data/credentials.json" \
  ZTD_DATA_DIR="$tmp/data" ZTD_BIN="$bin" "$py" "$here/roundtrip.py" | tee "$tmp/roundtrip.log"
roundtrip_rc=${PIPESTATUS[0]}
[ "$roundtrip_rc" = 0 ] || rc=1
set -e

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "ztd exited during the tests" >&2
  rc=1
fi
if [ "$rc" != 0 ]; then
  echo "--- server log (last 40 lines)" >&2
  tail -n 40 "$tmp/server.log" >&2 || true
fi
echo "== run time $(( $(date +%s) - start_time ))s"
# test_sdk.py prints the "N passed, M failed" line itself; repeat it last so it is the final line.
if [ -f "$tmp/summary" ]; then cat "$tmp/summary"; fi
if [ "$roundtrip_rc" != 0 ]; then echo "round trip: $(tail -n 1 "$tmp/roundtrip.log")"; fi
if [ ! -f "$tmp/summary" ] && [ "$rc" != 0 ]; then echo "0 passed, 1 failed"; fi
exit "$rc"
