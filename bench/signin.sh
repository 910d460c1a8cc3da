#!/usr/bin/env bash
# Sign-in benchmark: client-credential tokens and password sign-ins per second, each with its server CPU per
# request, against GET /health in the same run. Method and results: docs/benchmarks.md, "Sign-in".
#
#   bench/signin.sh                 # build, start a fresh server, measure, print a markdown table
#   ROUTE_SECS=20 bench/signin.sh
#
# The server runs on core 0, wrk on core 1 (-t2 -cCONNECTIONS). Server CPU is utime+stime from /proc across
# the measured run. Needs cargo, wrk, curl, jq, taskset.
set -euo pipefail
ROUTE_SECS=${ROUTE_SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-18960}
SKIP_BUILD=${SKIP_BUILD:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZTD=$ROOT/target/release/ztd
BASE=http://127.0.0.1:$PORT
RUN=$(mktemp -d "${TMPDIR:-/tmp}/ztd-signin.XXXXXX")
TICK=$(getconf CLK_TCK)
for tool in wrk curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "bench/signin.sh needs $tool" >&2; exit 1; }
done
[[ $SKIP_BUILD == 1 ]] || (cd "$ROOT" && cargo build --release -p ztd)

taskset -c 0 "$ZTD" serve --data-dir "$RUN/data" --listen "127.0.0.1:$PORT" 2>"$RUN/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$RUN"' EXIT
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done
CRED=$RUN/data/credentials.json
TENANT=$(jq -r .tenantId "$CRED")
CLIENT=$(jq -r .clientId "$CRED")
SECRET=$(jq -r .clientSecret "$CRED")
printf 'grant_type=client_credentials&client_id=%s&client_secret=%s&scope=https%%3A%%2F%%2Fgraph.microsoft.com%%2F.default' \
  "$CLIENT" "$SECRET" >"$RUN/cc.form"
TOKEN=$(curl -sf -X POST "$BASE/$TENANT/oauth2/v2.0/token" --data-binary @"$RUN/cc.form" | jq -r .access_token)
DOMAIN=$(curl -sf "$BASE/v1.0/organization" -H "Authorization: Bearer $TOKEN" | jq -r '.value[0].verifiedDomains[0].name')
PASSWORD='Bench-passw0rd!'
curl -sf -X POST "$BASE/v1.0/users" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"accountEnabled\":true,\"displayName\":\"Bench\",\"mailNickname\":\"bench\",\"userPrincipalName\":\"bench@$DOMAIN\",\"passwordProfile\":{\"password\":\"$PASSWORD\",\"forceChangePasswordNextSignIn\":false}}" >/dev/null
printf 'grant_type=password&client_id=04b07795-8ddb-461a-bbee-02f9e1bf7b46&username=bench%%40%s&password=%s&scope=https%%3A%%2F%%2Fgraph.microsoft.com%%2F.default' \
  "$DOMAIN" "$PASSWORD" >"$RUN/password.form"
curl -sf -X POST "$BASE/$TENANT/oauth2/v2.0/token" --data-binary @"$RUN/password.form" | jq -e .access_token >/dev/null

cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
measure() {
  local name=$1; shift
  taskset -c 1 wrk -t2 -c"$CONNECTIONS" -d"${WARMUP_SECS}s" "$@" >/dev/null
  local before after
  before=$(cpu)
  taskset -c 1 wrk -t2 -c"$CONNECTIONS" -d"${ROUTE_SECS}s" --latency "$@" >"$RUN/$name.txt"
  after=$(cpu)
  local n rate p50 p99 non2xx
  n=$(awk '/requests in/ { print $1 }' "$RUN/$name.txt")
  rate=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$RUN/$name.txt")
  p50=$(awk '$1 == "50%" { print $2 }' "$RUN/$name.txt")
  p99=$(awk '$1 == "99%" { print $2 }' "$RUN/$name.txt")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$RUN/$name.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$n" "$rate" "$p50" "$p99" \
    "$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$n" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')" "${non2xx:-0}"
}
{
  measure health "$BASE/health"
  measure client-credentials -s "$ROOT/bench/form.lua" "$BASE" -- "/$TENANT/oauth2/v2.0/token" "$RUN/cc.form"
  measure password -s "$ROOT/bench/form.lua" "$BASE" -- "/$TENANT/oauth2/v2.0/token" "$RUN/password.form"
  measure health-end "$BASE/health"
} >"$RUN/rows.tsv"
HEALTH_RATE=$(awk -F'\t' '$1 == "health" { print $3 }' "$RUN/rows.tsv")
HEALTH_CPU=$(awk -F'\t' '$1 == "health" { print $6 }' "$RUN/rows.tsv")
echo "## ztd sign-in benchmark ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD), $CONNECTIONS connections, ${ROUTE_SECS}s per route)"
echo
echo "| route | requests | req/s | × health req/s | p50 | p99 | CPU µs/req | × health CPU | non-2xx |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -F'\t' -v hr="$HEALTH_RATE" -v hc="$HEALTH_CPU" '{
  printf "| %s | %s | %s | %.4f | %s | %s | %s | %.1f | %s |\n", $1, $2, $3, $3 / hr, $4, $5, $6, $6 / hc, $7 }' "$RUN/rows.tsv"
