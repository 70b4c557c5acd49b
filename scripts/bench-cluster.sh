#!/usr/bin/env bash
# Cluster benchmark: one in-memory Parlor against two and three instances
# sharing rooms through Redis, in the same run, with the same load tool.
# Every server (the instances and redis-server) is pinned to one core and
# the load tool to the other, so the cluster gets the same core the single
# instance had. Pairs are split: the two ends of each pair are on different
# instances (parlor-load --peer-url).
#
#   scripts/bench-cluster.sh
#   DURATION=5s scripts/bench-cluster.sh
#
# Prints each run's JSON summary (from parlor-load), Redis's commands per
# relayed signal (INFO commandstats before and after), Redis memory per room
# of two (INFO memory with rooms held open) and a closing table.
# Needs: cargo, taskset, redis-server, redis-cli. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT=${PORT:-18580}
REDIS_PORT=${REDIS_PORT:-18579}
ROOMS=${ROOMS:-200}
TARGET=${CARGO_TARGET_DIR:-target}
HOSTS=(127.0.0.2 127.0.0.3 127.0.0.4)
SECRET="bench-cluster-secret"

cargo build --release --quiet -p parlor -p parlor-load
PARLOR="$TARGET/release/parlor"
LOAD=(taskset -c "$LOAD_CPU" "$TARGET/release/parlor-load" --threads 1)
OUT=$(mktemp -d)
PIDS=()
REDIS_PID=""

stop_all() {
  for pid in "${PIDS[@]}" $REDIS_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  REDIS_PID=""
}
trap 'stop_all; rm -rf "$OUT"' EXIT

wait_port() { # host port
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return; fi
    sleep 0.05
  done
  echo "nothing listens on $1:$2" >&2
  exit 1
}

url() { echo "http://${HOSTS[$1]}:$PORT"; }
cli() { redis-cli -p "$REDIS_PORT" "$@"; }

start_redis() {
  # Persistence as docs/deployment.md advises: append-only, fsync each second;
  # each configuration starts from an empty Redis.
  rm -rf "$OUT/appendonlydir"
  taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save "" --appendonly yes --appendfsync everysec --dir "$OUT" >/dev/null 2>&1 &
  REDIS_PID=$!
  wait_port 127.0.0.1 "$REDIS_PORT"
}

# Limits that protect a public server would measure themselves here.
start_instances() { # count, then extra flags for each
  local count=$1; shift
  for n in $(seq 0 $((count - 1))); do
    taskset -c "$SERVER_CPU" "$PARLOR" --listen "${HOSTS[$n]}:$PORT" --turn-disable \
      --message-rate 10000000/s --max-rooms 10000000 --room-idle-timeout 1s \
      --max-connections 1000000 "$@" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_port "${HOSTS[$n]}" "$PORT"
    # In a cluster, joins wait for the first heartbeat to reach Redis.
    for _ in $(seq 200); do
      [[ $(curl -s -o /dev/null -w '%{http_code}' "$(url "$n")/healthz") == 200 ]] && break
      sleep 0.05
    done
  done
}
start_single() { stop_all; start_instances 1; }
start_cluster() { # instances
  stop_all
  start_redis
  start_instances "$1" --redis "redis://127.0.0.1:$REDIS_PORT" --secret "$SECRET"
}

# Total Redis commands so far (every cmdstat_* line's calls, INFO's own included).
redis_calls() {
  cli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_[^:]*:calls=\([0-9]*\),.*/\1/p' |
    awk '{ s += $1 } END { print s + 0 }'
}
redis_evalsha() {
  cli INFO commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p'
}
# Signals the instances took from clients, warm-up included: what Redis saw.
signals_in() { # instances
  local total=0
  for n in $(seq 0 $(($1 - 1))); do
    total=$((total + $(curl -s "$(url "$n")/metrics" |
      sed -n 's/^parlor_messages_in_total{type="signal"} \([0-9]*\)$/\1/p')))
  done
  echo "$total"
}

field() { # file, python expression over the summary `s`
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$OUT/$1.json"
}

relay() { # name, in-flight, a-url, b-url, pairs
  "${LOAD[@]}" --url "$3" --peer-url "$4" relay --pairs "$5" --in-flight "$2" \
    --duration "$DURATION" 2>"$OUT/$1.err" >"$OUT/$1.json"
  cat "$OUT/$1.json"
}

# Three instances: three load tools at once, pairs split 1->2, 2->3, 3->1.
# Throughput adds up; the p99 given is the worst of the three.
relay3() { # name, in-flight
  local pids=()
  for n in 0 1 2; do
    "${LOAD[@]}" --url "$(url $n)" --peer-url "$(url $(((n + 1) % 3)))" relay --pairs 17 \
      --in-flight "$2" --duration "$DURATION" 2>"$OUT/$1-$n.err" >"$OUT/$1-$n.json" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { tail -n 3 "$OUT/$1"-*.err >&2; exit 1; }
  done
  python3 - "$OUT" "$1" <<'EOF' | tee "$OUT/$1.json"
import json, sys
parts = [json.load(open(f"{sys.argv[1]}/{sys.argv[2]}-{n}.json")) for n in range(3)]
print(json.dumps({
    "relayed_messages": sum(p["relayed_messages"] for p in parts),
    "relayed_per_sec": sum(p["relayed_per_sec"] for p in parts),
    "round_trip": {q: max(p["round_trip"][q] for p in parts) for q in ("p50_us", "p99_us", "p999_us")},
    "errors": sum(p["errors"] for p in parts),
}))
EOF
}

churn() { # name, a-url, b-url
  "${LOAD[@]}" --url "$2" --peer-url "$3" churn --concurrency 1 --duration "$DURATION" \
    2>/dev/null >"$OUT/$1.json"
  cat "$OUT/$1.json"
}

echo "== one instance, in memory"
start_single
relay single-w4 4 "$(url 0)" "$(url 0)" 50
start_single
relay single-w1 1 "$(url 0)" "$(url 0)" 50
start_single
churn single-churn "$(url 0)" "$(url 0)"

echo "== two instances + Redis, pairs split"
start_cluster 2
calls0=$(redis_calls); evalsha0=$(redis_evalsha); signals0=$(signals_in 2)
relay two-w4 4 "$(url 0)" "$(url 1)" 50
calls1=$(redis_calls); evalsha1=$(redis_evalsha); signals1=$(signals_in 2)
relayed=$((signals1 - signals0))
# Redis counts what the scripts call inside (PUBLISH, HGET, ...) as well.
per_signal=$(python3 -c "print(round(($calls1 - $calls0) / $relayed, 2))")
evalsha_per_signal=$(python3 -c "print(round(($evalsha1 - $evalsha0) / $relayed, 3))")
echo "redis: $((calls1 - calls0)) commands, $((evalsha1 - evalsha0)) EVALSHA for $relayed signals sent"
cli INFO commandstats | tr -d '\r' | grep '^cmdstat' | sed 's/,rejected.*//' | sort -t= -k2 -n -r | head -12
start_cluster 2
relay two-w1 1 "$(url 0)" "$(url 1)" 50
start_cluster 2
churn two-churn "$(url 0)" "$(url 1)"

echo "== Redis memory: $ROOMS rooms of two held open on two instances"
start_cluster 2
mem0=$(cli INFO memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p')
"${LOAD[@]}" --url "$(url 0)" idle --connections $((2 * ROOMS)) --sources 127.0.0.1-127.0.0.8 \
  --hold 8s 2>"$OUT/idle.err" >"$OUT/idle.json" &
idle_pid=$!
for _ in $(seq 600); do
  held=$(curl -s "$(url 0)/metrics" | sed -n 's/^parlor_connections \([0-9]*\)$/\1/p')
  [[ "${held:-0}" -ge $((2 * ROOMS)) ]] && break
  sleep 0.1
done
sleep 1 # the last joins' scripts
mem1=$(cli INFO memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p')
keys=$(cli DBSIZE)
wait "$idle_pid"
cat "$OUT/idle.json"
per_room=$(((mem1 - mem0) / ROOMS))
echo "redis used_memory: $mem0 -> $mem1 bytes, $keys keys, $per_room bytes per room of two"

echo "== three instances + Redis, pairs split 1->2, 2->3, 3->1"
start_cluster 3
relay3 three-w4 4
start_cluster 3
relay3 three-w1 1
stop_all

echo
echo "| measure | 1 instance | 2 instances + Redis | 3 instances + Redis |"
echo "| --- | --- | --- | --- |"
for w in w4 w1; do
  echo "| relayed signals/s, $w | $(field single-$w "round(s['relayed_per_sec'])") | $(field two-$w "round(s['relayed_per_sec'])") | $(field three-$w "round(s['relayed_per_sec'])") |"
  for q in p50 p99; do
    echo "| round trip $q (us), $w | $(field single-$w "s['round_trip']['${q}_us']") | $(field two-$w "s['round_trip']['${q}_us']") | $(field three-$w "s['round_trip']['${q}_us']") |"
  done
done
for q in p50 p99; do
  echo "| join $q (us) | $(field single-churn "s['join']['${q}_us']") | $(field two-churn "s['join']['${q}_us']") | |"
done
echo
echo "Redis round trips (EVALSHA) per relayed signal: $evalsha_per_signal; commands per relayed signal, those the scripts run inside included: $per_signal"
echo "Redis memory per room of two: $per_room bytes"
