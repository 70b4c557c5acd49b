#!/usr/bin/env bash
# Side-by-side STUN/TURN benchmark: Parlor's built-in server and coturn
# (Debian's `turnserver`), the same load tool (examples/turn_load.rs) and the
# same load, on 127.0.0.1 only. Each server is pinned to one core, the load
# tool to another; the servers run one at a time, alternating, ROUNDS times.
#
#   scripts/bench-turn.sh                  # everything, 3 rounds of 10 s
#   ROUNDS=1 SECONDS_MEASURED=5 scripts/bench-turn.sh
#
# Prints one line per run: the rate (Binding responses, or relayed packets
# delivered end to end) and the server's CPU over the measured interval
# (from /proc/<pid>/stat), then the medians. Needs: cargo, taskset,
# turnserver (apt-get install -y coturn). Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_MEASURED=${SECONDS_MEASURED:-10}
WARMUP=${WARMUP:-2}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-3590}
SECRET=bench-secret
TARGET=${CARGO_TARGET_DIR:-target}
# The loads: Binding with 16 sockets x 16 requests in flight; relay with 32
# pairs of allocations x 8 packets in flight, 100 bytes each (uclient's
# default size), and the same with 1000 bytes (a video packet).
BINDING_LOAD=${BINDING_LOAD:-"binding --sockets 16 --window 16"}
RELAY_LOADS=(
  "relay --secret $SECRET --pairs 32 --window 8 --size 100"
  "relay --secret $SECRET --pairs 32 --window 8 --size 1000"
)

command -v turnserver >/dev/null || { echo "turnserver not found: apt-get install -y coturn" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset not found (util-linux)" >&2; exit 1; }

cargo build --release --quiet --bin parlor --example turn_load
PARLOR="$TARGET/release/parlor"
LOAD="$TARGET/release/examples/turn_load"
WORK=$(mktemp -d)
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT

wait_for_port() {
  for _ in $(seq 100); do
    ss -Hlun "sport = :$PORT" | grep -q . && return 0
    sleep 0.1
  done
  echo "nothing listens on UDP $PORT" >&2
  exit 1
}

start_parlor() {
  taskset -c "$SERVER_CPU" "$PARLOR" --listen 127.0.0.1:0 --turn-listen "127.0.0.1:$PORT" \
    --turn-secret "$SECRET" --turn-allowed-peers 127.0.0.0/8 \
    --turn-user-bandwidth 0 --turn-user-allocations 100000 \
    >"$WORK/parlor.out" 2>"$WORK/parlor.err" &
  SERVER_PID=$!
  wait_for_port
}

start_coturn() {
  # The matching coturn: REST API secret, loopback peers allowed (which
  # needs the CLI off), no TLS/DTLS listeners, logs to a file.
  taskset -c "$SERVER_CPU" turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 \
    --listening-port="$PORT" --use-auth-secret --static-auth-secret="$SECRET" --realm=parlor \
    --allow-loopback-peers --no-cli --no-tls --no-dtls --no-stdout-log \
    --log-file="$WORK/coturn.log" --pidfile="$WORK/coturn.pid" \
    >"$WORK/coturn.out" 2>&1 &
  SERVER_PID=$!
  wait_for_port
}

declare -A RESULTS
run() { # server load...
  local server=$1; shift
  "start_$server"
  local line
  line=$(taskset -c "$LOAD_CPU" "$LOAD" "$@" --server "127.0.0.1:$PORT" --pid "$SERVER_PID" \
    --label "$server" --seconds "$SECONDS_MEASURED" --warmup "$WARMUP")
  stop_server
  echo "  $line"
  local key="$server|$*"
  RESULTS[$key]="${RESULTS[$key]:-} $line"
}

echo "# $(date -u +%FT%TZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "# coturn $(turnserver --version 2>/dev/null | head -1), parlor $(git rev-parse --short HEAD)"
echo "# server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; $ROUNDS round(s) of ${SECONDS_MEASURED} s after ${WARMUP} s warm-up"
LOADS=("$BINDING_LOAD" "${RELAY_LOADS[@]}")
for load in "${LOADS[@]}"; do
  echo "## $load"
  for round in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    run coturn $load
    # shellcheck disable=SC2086
    run parlor $load
  done
done

echo "## medians: rate; server CPU in % of one core; server CPU time per request or packet"
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for load in "${LOADS[@]}"; do
  for server in coturn parlor; do
    lines=${RESULTS["$server|$load"]}
    rate=$(grep -oE '[0-9]+ [a-z]+/s' <<<"$lines" | awk '{print $1}' | median)
    unit=$(grep -oE '[0-9]+ [a-z]+/s' <<<"$lines" | head -1 | awk '{print $2}')
    cpu=$(grep -oE 'server CPU [0-9.]+%' <<<"$lines" | grep -oE '[0-9.]+' | median)
    cost=$(grep -oE '[0-9.]+ µs' <<<"$lines" | awk '{print $1}' | median)
    printf '%-7s %-45s %8s %-10s %6s%%  %6s µs\n' "$server" "${load/--secret $SECRET /}" "$rate" "$unit" "$cpu" "$cost"
  done
done
