#!/usr/bin/env bash
# Signaling benchmarks: Parlor against parlor-floor (a WebSocket forwarder
# that parses nothing), same load tool, same run, on 127.0.0.1 only. The
# server under test is pinned to one core and the load tool to the other.
#
#   scripts/bench-signaling.sh             # everything, 10 s per relay run
#   DURATION=5s scripts/bench-signaling.sh
#   BASELINE=HEAD~1 scripts/bench-signaling.sh
#                                          # also an earlier commit's parlor,
#                                          # side by side in the same run
#
# Prints each run's JSON summary (from parlor-load) and a closing table.
# Needs: cargo, taskset. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-18480}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-4000}
TARGET=${CARGO_TARGET_DIR:-target}
URL="http://127.0.0.1:$PORT"

cargo build --release --quiet -p parlor -p parlor-load
PARLOR="$TARGET/release/parlor"
BASE=""
if [[ -n "${BASELINE:-}" ]]; then
  # The earlier commit's server, built from a worktree of its own into a
  # target directory of its own (kept, so a second run builds little).
  tree=$(mktemp -d)
  base_target=$(realpath -m "$TARGET/baseline")
  git worktree add --detach --quiet "$tree" "$BASELINE"
  (cd "$tree" && CARGO_TARGET_DIR="$base_target" cargo build --release --quiet -p parlor)
  git worktree remove --force "$tree"
  BASE="$base_target/release/parlor"
fi
FLOOR="$TARGET/release/parlor-floor"
LOAD=(taskset -c "$LOAD_CPU" "$TARGET/release/parlor-load" --threads 1 --url "$URL")
OUT=$(mktemp -d)
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

start() {
  stop_server
  taskset -c "$SERVER_CPU" "$@" >/dev/null 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "server did not start: $*" >&2
  exit 1
}

# Limits that protect a public server would measure themselves here.
start_parlor() { start_server "$PARLOR" "$@"; }
start_baseline() { start_server "$BASE" "$@"; }
start_server() {
  local bin=$1; shift
  start "$bin" --listen "127.0.0.1:$PORT" --turn-disable \
    --message-rate 10000000/s --max-rooms 10000000 --room-idle-timeout 1s \
    --max-connections 1000000 "$@"
}
start_floor() { start "$FLOOR" --listen "127.0.0.1:$PORT"; }

run() { # name, then parlor-load arguments
  local name=$1; shift
  "${LOAD[@]}" "$@" 2>/dev/null | tee "$OUT/$name.json"
}

field() { # file, python expression over the summary `s`
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$OUT/$1.json"
}

echo "== relay, 50 pairs x 4 in flight, 64-byte payload"
start_floor;  run floor-w4 relay --floor --pairs 50 --in-flight 4 --duration "$DURATION"
start_parlor; run parlor-w4 relay --pairs 50 --in-flight 4 --duration "$DURATION"
if [[ -n "$BASE" ]]; then
  start_baseline; run baseline-w4 relay --pairs 50 --in-flight 4 --duration "$DURATION"
fi
echo "== relay, 50 pairs x 1 in flight (latency)"
start_floor;  run floor-w1 relay --floor --pairs 50 --in-flight 1 --duration "$DURATION"
start_parlor; run parlor-w1 relay --pairs 50 --in-flight 1 --duration "$DURATION"
echo "== churn: create, two joins, welcome + peer-joined, leave"
start_parlor; run churn churn --concurrency 1 --duration "$DURATION"
start_parlor; run churn4 churn --concurrency 4 --duration "$DURATION"
echo "== idle: $IDLE_CONNECTIONS joined connections"
start_parlor
run idle idle --connections "$IDLE_CONNECTIONS" --sources 127.0.0.1-127.0.0.8 \
  --hold 3s --server-pid "$SERVER_PID"
if [[ -n "$BASE" ]]; then
  start_baseline
  run baseline-idle idle --connections "$IDLE_CONNECTIONS" --sources 127.0.0.1-127.0.0.8 \
    --hold 3s --server-pid "$SERVER_PID"
fi
stop_server

echo
echo "| measure | floor | parlor | parlor / floor |"
echo "| --- | --- | --- | --- |"
for w in w4 w1; do
  f=$(field "floor-$w" "round(s['relayed_per_sec'])")
  p=$(field "parlor-$w" "round(s['relayed_per_sec'])")
  echo "| relayed msg/s, $w | $f | $p | $(python3 -c "print(round($p/$f, 2))") |"
  for q in p50 p99 p999; do
    f=$(field "floor-$w" "s['round_trip']['${q}_us']")
    p=$(field "parlor-$w" "s['round_trip']['${q}_us']")
    echo "| round trip $q (us), $w | $f | $p | $(python3 -c "print(round($p/$f, 2))") |"
  done
done
echo
echo "churn, 1 worker: $(field churn "round(s['rooms_per_sec'])") rooms/s, join p50 $(field churn "s['join']['p50_us']") us, p99 $(field churn "s['join']['p99_us']") us"
echo "churn, 4 workers: $(field churn4 "round(s['rooms_per_sec'])") rooms/s, join p50 $(field churn4 "s['join']['p50_us']") us, p99 $(field churn4 "s['join']['p99_us']") us"
echo "idle: $(field idle "s['verified']") of $(field idle "s['connections']") verified, $(field idle "round(s['server_bytes_per_connection'])") bytes of server RSS per connection"
if [[ -n "$BASE" ]]; then
  echo
  echo "baseline $BASELINE, same run:"
  b=$(field baseline-w4 "round(s['relayed_per_sec'])")
  p=$(field parlor-w4 "round(s['relayed_per_sec'])")
  echo "relayed msg/s, w4: baseline $b, parlor $p ($(python3 -c "print(round($p/$b, 3))")x)"
  echo "idle: baseline $(field baseline-idle "round(s['server_bytes_per_connection'])"), parlor $(field idle "round(s['server_bytes_per_connection'])") bytes of server RSS per connection"
fi
