#!/usr/bin/env bash
# HTTP load benchmark of ztd's busiest routes, each compared with GET /health in the same run.
# Method, machine and results: docs/benchmarks.md, "HTTP routes under load".
#
#   bench/http.sh                      # build, seed 100,000 devices, measure, print and save a markdown table
#   ROUTE_SECS=5 MIXED_SECS=30 bench/http.sh
#   PERF=1 bench/http.sh               # also profile the server under boot, device-page and member-page load
#   PERF=1 PERF_CALLGRAPH="--call-graph dwarf,16384 -F 499" bench/http.sh   # ... with inclusive times
#
# The server (`ztd serve`) runs on core 0, wrk on core 1. Every route: WARMUP_SECS of load, then ROUTE_SECS
# measured with `wrk -t2 -cCONNECTIONS --latency`; server CPU is the server process's utime+stime from
# /proc/<pid>/stat across the measured run. Needs: cargo, wrk, curl, jq, taskset (and perf for PERF=1).
#
# Knobs (environment): ROUTE_SECS (10), WARMUP_SECS (2), MIXED_SECS (180), CONNECTIONS (32), DEVICES
# (100000), PORT (18950), SKIP_BUILD (0), PERF (0), PERF_SECS (10), PERF_CALLGRAPH (-g), SERVER_CORE (0),
# CLIENT_CORE (1), OUT (target/bench-http), KEEP_DATA (0: the seeded data directory is deleted at the end).
set -euo pipefail

ROUTE_SECS=${ROUTE_SECS:-10}
WARMUP_SECS=${WARMUP_SECS:-2}
MIXED_SECS=${MIXED_SECS:-180}
CONNECTIONS=${CONNECTIONS:-32}
DEVICES=${DEVICES:-100000}
PORT=${PORT:-18950}
SKIP_BUILD=${SKIP_BUILD:-0}
PERF=${PERF:-0}
PERF_SECS=${PERF_SECS:-10}
PERF_CALLGRAPH=${PERF_CALLGRAPH:--g}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=${OUT:-$ROOT/target/bench-http}
ZTD=$ROOT/target/release/ztd
BASE=http://127.0.0.1:$PORT
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN=$OUT/$STAMP
DATA=$RUN/data
TICK=$(getconf CLK_TCK)

for tool in wrk curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "bench/http.sh needs $tool" >&2; exit 1; }
done
if [[ $PERF == 1 ]] && ! command -v perf >/dev/null; then
  echo "PERF=1 needs perf" >&2
  exit 1
fi

if [[ $SKIP_BUILD != 1 ]]; then
  (cd "$ROOT" && cargo build --release -p ztd)
fi
mkdir -p "$RUN"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# --- Seed a fresh data directory and start the server on its own core ----------------------------------
log "seeding $DEVICES devices into $DATA"
"$ZTD" bench seed --data-dir "$DATA" --devices "$DEVICES" >"$RUN/seed.json"
SEED=$DATA/bench-seed.json
BODIES=$(jq -r .bootBodies "$SEED")
IDS=$(jq -r .deviceIds "$SEED")
G_SMALL=$(jq -r .groups.small.id "$SEED")
G_MID=$(jq -r .groups.mid.id "$SEED")
G_ALL=$(jq -r .groups.all.id "$SEED")
FILTER=$(jq -r .serialFilter "$SEED")

# Rate limits off: one wrk source address sends every boot.
taskset -c "$SERVER_CORE" "$ZTD" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
  --device-rate-per-source 0 --device-rate-per-device 0 --graph-rate-per-tenant 0 --graph-rate-per-app 0 2>"$RUN/server.log" &
PID=$!
RSS_PID=
cleanup() {
  if [[ -n $RSS_PID ]]; then kill "$RSS_PID" 2>/dev/null || true; fi
  if kill "$PID" 2>/dev/null; then wait "$PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
for _ in $(seq 100); do
  curl -sf "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$RUN/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$BASE/health" >/dev/null || { echo "the server did not start" >&2; exit 1; }

# An admin token from the server's own token endpoint, with the credentials the seed wrote.
CRED=$DATA/credentials.json
TOKEN=$(curl -sf -X POST "$BASE/$(jq -r .tenantId "$CRED")/oauth2/v2.0/token" \
  --data-urlencode grant_type=client_credentials \
  --data-urlencode "client_id=$(jq -r .clientId "$CRED")" \
  --data-urlencode "client_secret=$(jq -r .clientSecret "$CRED")" \
  --data-urlencode scope=https://graph.microsoft.com/.default | jq -r .access_token)
[[ -n $TOKEN && $TOKEN != null ]] || { echo "no token from $BASE" >&2; exit 1; }
AUTH="Authorization: Bearer $TOKEN"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status"; }
load() { taskset -c "$CLIENT_CORE" wrk -t2 -c"$CONNECTIONS" "$@"; }

# wrk's latency line ("99%  1.23ms") in milliseconds.
latency_ms() {
  awk -v p="$1" '$1 == p {
    v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
    if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000
    printf "%.2f", v }' "$2"
}
wrk_requests() { awk '/requests in/ { print $1 }' "$1"; }
wrk_rate() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }
wrk_non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
wrk_socket_errors() {
  awk '/Socket errors:/ { gsub(/,/, ""); n = $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}

# measure NAME [wrk arguments...]: warm-up, then a measured run; appends a row to $RUN/rows.tsv.
ROWS=$RUN/rows.tsv
: >"$ROWS"
measure() {
  local name=$1
  shift
  log "$name: ${WARMUP_SECS}s warm-up, ${ROUTE_SECS}s measured"
  load -d"${WARMUP_SECS}s" "$@" >/dev/null
  local file=$RUN/wrk-$name.txt
  local before after
  before=$(cpu_ticks)
  load -d"${ROUTE_SECS}s" --latency "$@" >"$file"
  after=$(cpu_ticks)
  local requests
  requests=$(wrk_requests "$file")
  local cpu_us
  cpu_us=$(awk -v t=$((after - before)) -v hz="$TICK" -v n="$requests" \
    'BEGIN { printf "%.1f", (n > 0 ? t / hz / n * 1e6 : 0) }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$requests" "$(wrk_rate "$file")" \
    "$(latency_ms 50% "$file")" "$(latency_ms 99% "$file")" "$cpu_us" "$(wrk_non2xx "$file")" \
    "$(wrk_socket_errors "$file")" "$((after - before))" >>"$ROWS"
}

# first_boots: each seeded boot body sent once, CONNECTIONS at a time (curl --parallel): the first contact
# of each device, its plan not yet cached. Appends a row like measure's.
first_boots() {
  log "boot-first: each of $(wc -l <"$BODIES") devices' first boot"
  local dir=$RUN/bodies config=$RUN/first-boots.curl
  mkdir -p "$dir"
  split -l 1 -a 4 -d "$BODIES" "$dir/b"
  : >"$config"
  local first=1
  for body in "$dir"/b*; do
    [[ $first == 1 ]] || echo next >>"$config"
    first=0
    printf 'url = "%s/device/v1/boot"\ndata-binary = "@%s"\nheader = "Content-Type: application/json"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\n' \
      "$BASE" "$body" >>"$config"
  done
  local before after started ended
  before=$(cpu_ticks)
  started=$(date +%s.%N)
  taskset -c "$CLIENT_CORE" curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max "$CONNECTIONS" \
    -K "$config" >"$RUN/first-boots.txt"
  ended=$(date +%s.%N)
  after=$(cpu_ticks)
  local n
  n=$(wc -l <"$RUN/first-boots.txt")
  local ok
  ok=$(awk '$1 == 200' "$RUN/first-boots.txt" | wc -l)
  sort -k2 -g "$RUN/first-boots.txt" | awk -v n="$n" -v s="$started" -v e="$ended" -v t=$((after - before)) \
    -v hz="$TICK" -v ok="$ok" -v ticks=$((after - before)) '
    { lat[NR] = $2 * 1000 }
    END {
      p50 = lat[int(n * 0.50 + 0.5)]; p99 = lat[int(n * 0.99 + 0.5)]
      printf "boot-first\t%d\t%.0f\t%.2f\t%.2f\t%.1f\t%d\t0\t%d\n", n, n / (e - s), p50, p99,
        t / hz / n * 1e6, n - ok, ticks }' >>"$ROWS"
}

DEV=/beta/deviceManagement/windowsAutopilotDeviceIdentities
measure health "$BASE/health"
first_boots
measure boot -s "$BENCH/boot.lua" "$BASE" -- "$BODIES"
measure devices-page -H "$AUTH" "$BASE$DEV?\$top=100"
measure devices-contains -H "$AUTH" "$BASE$DEV?\$top=100&\$filter=contains(serialNumber,'$FILTER')"
measure devices-select -H "$AUTH" "$BASE$DEV?\$top=100&\$select=id,serialNumber,groupTag"
measure members-100 -H "$AUTH" "$BASE/v1.0/groups/$G_SMALL/members?\$top=100"
measure members-25k -H "$AUTH" "$BASE/v1.0/groups/$G_MID/members?\$top=100"
measure members-100k -H "$AUTH" "$BASE/v1.0/groups/$G_ALL/members?\$top=100"
measure health-end "$BASE/health"

# --- Mixed load, with the server's RSS sampled every 10 s -------------------------------------------------
log "mixed: ${MIXED_SECS}s"
RSS_FILE=$RUN/rss.tsv
(
  t=0
  while kill -0 "$PID" 2>/dev/null; do
    printf '%s\t%s\n' "$t" "$(rss_mb)"
    sleep 10
    t=$((t + 10))
  done
) >"$RSS_FILE" &
RSS_PID=$!
MIXED=$RUN/wrk-mixed.txt
mixed_before=$(cpu_ticks)
load -d"${MIXED_SECS}s" --latency --timeout 10s -s "$BENCH/mixed.lua" "$BASE" -- \
  "$TOKEN" "$BODIES" "$IDS" "$G_SMALL" "$G_MID" "$G_ALL" >"$MIXED"
mixed_after=$(cpu_ticks)
kill "$RSS_PID" 2>/dev/null
wait "$RSS_PID" 2>/dev/null || true
RSS_PID=

# --- Optional: where the time goes ----------------------------------------------------------------------
profile() {
  local name=$1
  shift
  log "perf: $name"
  load -d"$((PERF_SECS + 3))s" "$@" >"$RUN/perf-$name-wrk.txt" &
  local wrk_pid=$!
  sleep 1
  # shellcheck disable=SC2086 # PERF_CALLGRAPH is a list of perf options
  perf record -q -e cpu-clock $PERF_CALLGRAPH -p "$PID" -o "$RUN/perf-$name.data" -- sleep "$PERF_SECS" \
    2>/dev/null
  wait "$wrk_pid"
  perf report -i "$RUN/perf-$name.data" --no-children --sort symbol >"$RUN/perf-$name-full.txt" 2>/dev/null
  head -40 "$RUN/perf-$name-full.txt" >"$RUN/perf-$name.txt"
  # Flat: self time by symbol; with DWARF call graphs, also inclusive time of ztd's frames and the libraries
  # it calls (which code asked for the work; frame-pointer stacks through Rust code are too broken for it).
  perf report -i "$RUN/perf-$name.data" --no-children --sort symbol -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -25 | sed -E 's/ +- +- *$//; s/ +$//' >"$RUN/perf-$name-flat.txt" || true
  perf report -i "$RUN/perf-$name.data" --children --sort symbol -g none 2>/dev/null |
    grep -E '^ +[0-9.]+%' | grep -v '{async_block' |
    grep -E '\] (<)?(ztd_[a-z]+::|serde_json::(ser|de)::|sqlx_sqlite::statement::handle|__GI___libc_(malloc|free)|__x64_sys_futex|hyper::proto::h1::role)' |
    head -25 | sed -E 's/ +- +- *$//; s/ +$//' >"$RUN/perf-$name-inclusive.txt" || true
}
if [[ $PERF == 1 ]]; then
  profile boot -s "$BENCH/boot.lua" "$BASE" -- "$BODIES"
  profile devices-page -H "$AUTH" "$BASE$DEV?\$top=100"
  profile members-100k -H "$AUTH" "$BASE/v1.0/groups/$G_ALL/members?\$top=100"
fi

# --- Report ---------------------------------------------------------------------------------------------
RESULTS=$RUN/results.md
{
  echo "## ztd HTTP benchmark, $STAMP"
  echo
  echo "$(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); server on core" \
    "$SERVER_CORE, wrk on core $CLIENT_CORE; $DEVICES devices; wrk -t2 -c$CONNECTIONS," \
    "${WARMUP_SECS}s warm-up + ${ROUTE_SECS}s per route; CLK_TCK $TICK; commit $COMMIT;" \
    "binary built $(date -u -r "$ZTD" +%Y-%m-%dT%H:%MZ); load average at start $LOAD_START, at end" \
    "$(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| route | requests | req/s | × health req/s | p50 ms | p99 ms | CPU µs/req | × health CPU | non-2xx | socket errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  awk -F'\t' '
    NR == 1 { hr = $3; hc = $6 }
    { printf "| %s | %d | %d | %.3f | %s | %s | %s | %.1f | %d | %d |\n", $1, $2, $3, (hr > 0 ? $3 / hr : 0),
        $4, $5, $6, (hc > 0 ? $6 / hc : 0), $7, $8 }' "$ROWS"
  echo
  awk -F'\t' '
    $1 == "members-100" { s = $6 } $1 == "members-100k" { b = $6 } $1 == "members-25k" { m = $6 }
    END { if (s > 0) printf "Members page CPU, 25,000-member / 100-member group: %.2f×; 100,000-member / 100-member: %.2f×.\n\n", m / s, b / s }' "$ROWS"
  echo "Rows: boot-first = each device's first boot (curl --parallel, $CONNECTIONS in flight, not wrk);" \
    "boot = the same $(wc -l <"$BODIES") devices again (wrk, bench/boot.lua); devices-select = a device page with" \
    "\$select=id,serialNumber,groupTag; health-end = /health after the routes (drift check)."
  echo
  echo "### Mixed load, ${MIXED_SECS}s, $CONNECTIONS connections (bench/mixed.lua)"
  echo
  echo "- requests: $(wrk_requests "$MIXED") ($(wrk_rate "$MIXED") req/s), p50 $(latency_ms 50% "$MIXED") ms," \
    "p99 $(latency_ms 99% "$MIXED") ms, server CPU $(awk -v t=$((mixed_after - mixed_before)) -v hz="$TICK" \
      -v n="$(wrk_requests "$MIXED")" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }') µs/request"
  echo "- non-2xx: $(wrk_non2xx "$MIXED"); socket errors: $(wrk_socket_errors "$MIXED")" \
    "($(grep 'Socket errors' "$MIXED" | sed 's/^ *//' || echo none))"
  echo "- status codes: $(grep '^status ' "$MIXED" | sed 's/^status //' | paste -sd ',' | sed 's/,/, /g')"
  echo "- server RSS (MB) every 10 s: $(cut -f2 "$RSS_FILE" | paste -sd ' ')"
  echo "- RSS min/max: $(cut -f2 "$RSS_FILE" | sort -n | head -1)/$(cut -f2 "$RSS_FILE" | sort -n | tail -1) MB"
  if [[ $PERF == 1 ]]; then
    for name in boot devices-page; do
      echo
      echo "### perf, $name (${PERF_SECS}s, perf report --no-children --sort symbol)"
      echo
      echo '```'
      cat "$RUN/perf-$name-flat.txt"
      echo '```'
      if [[ $PERF_CALLGRAPH == *dwarf* ]]; then
        echo
        echo "Inclusive (perf report --children): ztd's frames, JSON, SQLite steps, malloc/free, futex, HTTP parsing:"
        echo
        echo '```'
        cat "$RUN/perf-$name-inclusive.txt"
        echo '```'
      fi
    done
  fi
} >"$RESULTS"
cp "$RESULTS" "$OUT/results-$STAMP.md"
if [[ ${KEEP_DATA:-0} != 1 ]]; then
  cleanup
  trap - EXIT
  rm -rf "$DATA" "$RUN/bodies"
fi
cat "$RESULTS"
log "results: $OUT/results-$STAMP.md (raw wrk output, server log, seed in $RUN)"
