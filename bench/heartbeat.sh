#!/usr/bin/env bash
# Heartbeats per second on an SCV holding ACTIVE active streams, against
# nginx `return 200` with the same connections, wrk threads and worker count.
# The same wrk Lua script (a different core token per request) drives both.
# The server's CPU per request is the steadier figure on a shared machine.
#   bench/heartbeat.sh [SECONDS] [CONNECTIONS] [ACTIVE]
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
conns=${2:-100}
active=${3:-10000}
threads=$ncpu

cc_setup
cc_start
scv_setup scv1
target=$(make_target bench)
"$fill" scv "$scv_data" scv1 "$target" "$active" > /dev/null
scv_start
activate_tokens "$target" bench "$active" "$tmp/tokens"
export BENCH_TOKENS=$tmp/tokens
nginx_start "$threads"

run() { # NAME URL PID
  wrk_timed "$tmp/$1.warm" -t"$threads" -c"$conns" -d2s -s "$bench_root/bench/heartbeat.lua" "$2"
  perf_start "$1" "$3"
  local c0; c0=$(cpu_ticks "$3")
  wrk_timed "$tmp/$1.out" -t"$threads" -c"$conns" -d"${secs}s" -s "$bench_root/bench/heartbeat.lua" "$2"
  local c1; c1=$(cpu_ticks "$3")
  perf_stop
  local rate; rate=$(wrk_ok_rate "$tmp/$1.out")
  awk -v w="$wrk_cpu" -v t="$wrk_wall" -v n="$ncpu" -v c=$((c1 - c0)) -v hz="$hz" -v r="$rate" -v name="$1" \
    'BEGIN { printf "  %s run: CPU share of %d cores: wrk %.0f%%, server %.0f%%; server CPU per request %.1f us\n",
             name, n, 100 * w / (t * n), 100 * c / hz / (t * n), 1e6 * c / hz / (r * t) }' >> "$tmp/cpu"
  [ -n "${BENCH_VERBOSE:-}" ] && cat "$tmp/$1.out" >&2
  echo "$rate"
}
nginx_rate=$(run nginx "$nginx_url/core/heartbeat" "$nginx_pid")
scv_rate=$(run scv "$scv_url/core/heartbeat" "$scv_pid")
echo "wrk -t$threads -c$conns -d${secs}s, $threads server threads/workers, $active active streams"
echo "nginx return 200   : $nginx_rate req/s"
echo "siegetank heartbeat: $scv_rate req/s (200s only)"
awk -v a="$scv_rate" -v b="$nginx_rate" 'BEGIN { printf "ratio siegetank/nginx: %.2f (target >= 1.0)\n", a / b }'
cat "$tmp/cpu"
