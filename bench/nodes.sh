#!/usr/bin/env bash
# Several ztd nodes on one PostgreSQL database against one node, in the same run: throughput, and CPU per
# request of ztd (all nodes together) and of PostgreSQL (all its processes). Method and results:
# docs/multi-node.md, "What was measured".
#
#   bench/nodes.sh                        # build, seed 20,000 devices into a fresh database, measure 1 then 3 nodes
#   ROUTE_SECS=5 DEVICES=5000 bench/nodes.sh
#
# Every measurement runs three wrk processes of CONNECTIONS/3 connections each, one per node (all three at the
# one node when there is one), on CLIENT_CORE; the nodes run on SERVER_CORE; PostgreSQL runs where the system
# put it. Needs: cargo, wrk, curl, jq, taskset, psql, and PostgreSQL at PGURL (trust auth).
#
# Knobs (environment): ROUTE_SECS (10), WARMUP_SECS (2), CONNECTIONS (33), DEVICES (20000), PORT (19950: nodes
# use PORT, PORT+1, PORT+2), PGURL (postgres://postgres@127.0.0.1:5432), DATABASE (ztd_bench_nodes, dropped and
# created), SKIP_BUILD (0), SERVER_CORE (0), CLIENT_CORE (1), OUT (target/bench-nodes).
set -euo pipefail

ROUTE_SECS=${ROUTE_SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
CONNECTIONS=${CONNECTIONS:-33}
DEVICES=${DEVICES:-20000}
PORT=${PORT:-19950}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DATABASE=${DATABASE:-ztd_bench_nodes}
SKIP_BUILD=${SKIP_BUILD:-0}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${OUT:-$ROOT/target/bench-nodes}
ZTD=$ROOT/target/release/ztd
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN=$OUT/$STAMP
DATA=$RUN/data
TICK=$(getconf CLK_TCK)
DB_URL=$PGURL/$DATABASE

for tool in wrk curl jq taskset psql; do
  command -v "$tool" >/dev/null || { echo "bench/nodes.sh needs $tool" >&2; exit 1; }
done
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if [[ $SKIP_BUILD != 1 ]]; then
  (cd "$ROOT" && cargo build --release -p ztd)
fi
mkdir -p "$RUN"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DATABASE" -c "CREATE DATABASE $DATABASE" >/dev/null
log "seeding $DEVICES devices into $DB_URL"
"$ZTD" bench seed --data-dir "$DATA" --devices "$DEVICES" --small 100 --mid $((DEVICES / 4)) \
  --boot-bodies 1000 --database-url "$DB_URL" >"$RUN/seed.json"
BODIES=$(jq -r .bootBodies "$DATA/bench-seed.json")

PIDS=()
stop_nodes() {
  for pid in "${PIDS[@]}"; do
    if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  PIDS=()
}
trap 'stop_nodes; psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DATABASE" >/dev/null 2>&1 || true' EXIT

# start_nodes N: N nodes on one database, each on its own port, all on SERVER_CORE.
start_nodes() {
  local n=$1 i port
  for ((i = 0; i < n; i++)); do
    port=$((PORT + i))
    taskset -c "$SERVER_CORE" "$ZTD" serve --data-dir "$DATA" --database-url "$DB_URL" \
      --listen "127.0.0.1:$port" --device-rate-per-source 0 --device-rate-per-device 0 --graph-rate-per-tenant 0 --graph-rate-per-app 0 \
      2>"$RUN/node$i-of-$n.log" &
    PIDS+=($!)
  done
  for ((i = 0; i < n; i++)); do
    port=$((PORT + i))
    for _ in $(seq 100); do
      curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$RUN/node$i-of-$n.log" >&2; exit 1; }
  done
}

node_ticks() {
  local total=0 pid
  for pid in "${PIDS[@]}"; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
# Every PostgreSQL process (the nodes' backends are the ones that work), by the processes' own accounting.
pg_ticks() {
  local total=0 pid
  for pid in $(pgrep -x postgres || true); do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

CRED=$DATA/credentials.json
token() {
  curl -sf -X POST "http://127.0.0.1:$PORT/$(jq -r .tenantId "$CRED")/oauth2/v2.0/token" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$(jq -r .clientId "$CRED")" \
    --data-urlencode "client_secret=$(jq -r .clientSecret "$CRED")" \
    --data-urlencode scope=https://graph.microsoft.com/.default | jq -r .access_token
}

ROWS=$RUN/rows.tsv
: >"$ROWS"
# measure NODES NAME PATH [wrk arguments...]: three wrk processes, one per node (or all at the one node).
measure() {
  local nodes=$1 name=$2 path=$3
  shift 3
  local per=$((CONNECTIONS / 3)) i port files=()
  run_wrk() {
    local secs=$1 tag=$2
    shift 2
    local pids=()
    for i in 0 1 2; do
      port=$((PORT + (nodes == 1 ? 0 : i)))
      taskset -c "$CLIENT_CORE" wrk -t1 -c"$per" -d"${secs}s" "$@" "http://127.0.0.1:$port$path" \
        ${WRK_TAIL:+-- $WRK_TAIL} >"$RUN/wrk-$name-$nodes-$tag-$i.txt" &
      pids+=($!)
    done
    wait "${pids[@]}"
  }
  log "$name on $nodes node(s): ${WARMUP_SECS}s warm-up, ${ROUTE_SECS}s measured"
  run_wrk "$WARMUP_SECS" warm "$@"
  local ztd_before pg_before ztd_after pg_after
  ztd_before=$(node_ticks)
  pg_before=$(pg_ticks)
  run_wrk "$ROUTE_SECS" run "$@"
  ztd_after=$(node_ticks)
  pg_after=$(pg_ticks)
  local requests=0 errors=0 f
  for i in 0 1 2; do
    f=$RUN/wrk-$name-$nodes-run-$i.txt
    requests=$((requests + $(awk '/requests in/ { print $1 }' "$f")))
    errors=$((errors + $(awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$f")))
  done
  awk -v name="$name" -v nodes="$nodes" -v n="$requests" -v secs="$ROUTE_SECS" -v e="$errors" \
    -v zt=$((ztd_after - ztd_before)) -v pt=$((pg_after - pg_before)) -v hz="$TICK" 'BEGIN {
      printf "%s\t%s\t%d\t%.0f\t%.1f\t%.1f\t%d\n", name, nodes, n, n / secs,
        (n > 0 ? zt / hz / n * 1e6 : 0), (n > 0 ? pt / hz / n * 1e6 : 0), e }' >>"$ROWS"
}

DEV=/beta/deviceManagement/windowsAutopilotDeviceIdentities
for nodes in 1 3; do
  start_nodes "$nodes"
  AUTH="Authorization: Bearer $(token)"
  measure "$nodes" health /health
  WRK_TAIL=$BODIES measure "$nodes" boot /device/v1/boot -s "$BENCH/boot.lua"
  measure "$nodes" devices-page "$DEV?\$top=100" -H "$AUTH"
  measure "$nodes" health-end /health
  stop_nodes
done

RESULTS=$OUT/results-$STAMP.md
{
  echo "bench/nodes.sh at $COMMIT, $(date -u +%FT%TZ), $DEVICES devices, $CONNECTIONS connections," \
    "${ROUTE_SECS}s per route, load average at start $LOAD_START"
  echo
  echo "| route | nodes | requests | req/s | ztd CPU µs/request (all nodes) | PostgreSQL CPU µs/request | non-2xx |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$ROWS"
} | tee "$RESULTS"
log "results: $RESULTS (raw output in $RUN)"
