#!/usr/bin/env bash
# Device-side benchmark: joins, PRT requests, tokens through a PRT, srv_challenge nonces, MDM enrollments and
# MDM management sessions (20 commands each) per second, each with the server's CPU per operation, against
# GET /health over the same HTTPS client in the same run.
# Method and results: docs/benchmarks.md, "Device registration" and "MDM enrollment and sessions".
#
#   bench/devices.sh                       # build, start a fresh server (SQLite), measure, print a table
#   OPERATIONS=4000 CONCURRENCY=8 bench/devices.sh
#   ONLY=join PERF_OUT=/tmp/join.perf bench/devices.sh     # one operation (and health), profiled with perf
#   ONLY=enroll bench/devices.sh           # MDM enrollments only (and health); ONLY=session: management sessions
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/devices.sh   # on PostgreSQL (a fresh schema)
#
# The server runs on core 0 (`ztd serve --lab-tls`), the load driver (`ztd bench devices`, ztd's device
# client) on core 1. Server CPU is utime+stime from /proc around each measurement. Needs cargo, curl, jq,
# taskset.
set -euo pipefail
OPERATIONS=${OPERATIONS:-2000}
SECONDS_EACH=${SECONDS_EACH:-20}
CONCURRENCY=${CONCURRENCY:-8}
PORT=${PORT:-18970}
SKIP_BUILD=${SKIP_BUILD:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZTD=${ZTD:-$ROOT/target/release/ztd}   # ZTD=… SKIP_BUILD=1: another build (a debug one to check the script)
BASE=https://127.0.0.1:$PORT
RUN=$(mktemp -d "${TMPDIR:-/tmp}/ztd-devices.XXXXXX")
for tool in curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "bench/devices.sh needs $tool" >&2; exit 1; }
done
[[ $SKIP_BUILD == 1 ]] || (cd "$ROOT" && cargo build --release -p ztd)

DB_ARGS=()
if [[ -n ${DATABASE_URL:-} ]]; then
  SCHEMA=bench_devices_$$
  psql "$DATABASE_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
  DB_ARGS=(--database-url "$DATABASE_URL?options=-csearch_path%3D$SCHEMA")
fi
taskset -c 0 "$ZTD" serve --data-dir "$RUN/data" --listen "127.0.0.1:$PORT" --lab-tls "${DB_ARGS[@]}" 2>"$RUN/server.log" &
PID=$!
cleanup() {
  local status=$?
  kill $PID 2>/dev/null; wait $PID 2>/dev/null || true
  if [[ -n ${SCHEMA:-} ]]; then psql "$DATABASE_URL" -qc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null; fi
  rm -rf "$RUN"
  exit "$status"
}
trap cleanup EXIT
CA=$RUN/data/lab-ca.pem
for _ in $(seq 150); do [[ -s $CA ]] && curl -sf --cacert "$CA" "$BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done
CRED=$RUN/data/credentials.json
TENANT=$(jq -r .tenantId "$CRED")
TOKEN=$(curl -sf --cacert "$CA" -X POST "$BASE/$TENANT/oauth2/v2.0/token" -d grant_type=client_credentials \
  --data-urlencode "client_id=$(jq -r .clientId "$CRED")" --data-urlencode "client_secret=$(jq -r .clientSecret "$CRED")" \
  --data-urlencode scope=https://graph.microsoft.com/.default | jq -r .access_token)
DOMAIN=$(curl -sf --cacert "$CA" "$BASE/v1.0/organization" -H "Authorization: Bearer $TOKEN" | jq -r '.value[0].verifiedDomains[0].name')
PASSWORD='Bench-passw0rd!'
curl -sf --cacert "$CA" -X POST "$BASE/v1.0/users" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"accountEnabled\":true,\"displayName\":\"Bench\",\"mailNickname\":\"bench\",\"userPrincipalName\":\"bench@$DOMAIN\",\"passwordProfile\":{\"password\":\"$PASSWORD\",\"forceChangePasswordNextSignIn\":false}}" >/dev/null

echo "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); server on core 0, driver on core 1;" \
  "$([[ -n ${DATABASE_URL:-} ]] && echo PostgreSQL || echo SQLite); $CONCURRENCY in flight, up to $OPERATIONS operations or ${SECONDS_EACH}s each"
if [[ -n ${PERF_OUT:-} ]]; then
  # A CPU profile of the server across the whole run (PERF_OUT=file), for `perf report -i file`.
  perf record -q -e cpu-clock -g -p "$PID" -o "$PERF_OUT" &
  PERF_PID=$!
fi
ZTD_DEVICE_PASSWORD=$PASSWORD taskset -c 1 "$ZTD" bench devices --server "$BASE" --ca-cert "$CA" \
  --user "bench@$DOMAIN" --server-pid "$PID" --operations "$OPERATIONS" --seconds "$SECONDS_EACH" \
  --concurrency "$CONCURRENCY" --credentials "$CRED" ${ONLY:+--only "$ONLY"}
if [[ -n ${PERF_PID:-} ]]; then kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true; fi
