#!/usr/bin/env bash
# Assignments per second through a CC: full POST /core/assign, each one
# activating a stream on the SCV (POST /streams/activate), against BOINC's
# published single-server rate (8.8 million tasks a day, 102/s).
#   bench/assign.sh [SECONDS] [CONNECTIONS] [STREAMS]
#   BENCH_TLS=1 bench/assign.sh ...   (TLS everywhere, as in production: wrk
#   to the CC and the CC to the SCV; P-256 certificates, as `up` makes)
# Streams expire 1 s after activation (heartbeat_increment = 1) and the SCV
# requeues them every second, so STREAMS must exceed about twice the rate;
# a "no streams available" answer is counted as a failure, not an assignment.
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
conns=${2:-64}
streams=${3:-120000}
boinc=102
mode="plain HTTP"; [ -n "${BENCH_TLS:-}" ] && mode=TLS

cc_setup
cc_start
scv_setup scv1 "heartbeat_increment = 1"
target=$(make_target bench)
key=$(engine_key bench)
"$fill" scv "$scv_data" scv1 "$target" "$streams" > /dev/null
scv_start
add_shard "$target"

export BENCH_KEY=$key
perf_start cc "$cc_pid"; perf_start scv "$scv_pid"
cc0=$(cpu_ticks "$cc_pid"); scv0=$(cpu_ticks "$scv_pid")
wrk_timed "$tmp/wrk.out" -t1 -c"$conns" -d"${secs}s" -s "$bench_root/bench/assign.lua" "$cc_url/core/assign"
cc1=$(cpu_ticks "$cc_pid"); scv1=$(cpu_ticks "$scv_pid")
perf_stop
rate=$(wrk_ok_rate "$tmp/wrk.out")
[ -n "${BENCH_VERBOSE:-}" ] && cat "$tmp/wrk.out"
echo "wrk -t1 -c$conns -d${secs}s POST /core/assign; CC and SCV $ncpu threads each; $streams streams; $mode"
echo "siegetank assign : $rate assignments/s"
echo "BOINC (paper)    : $boinc assignments/s"
awk -v a="$rate" -v b="$boinc" 'BEGIN { printf "ratio siegetank/BOINC: %.0f (target >= 300)\n", a / b }'
awk -v r="$rate" -v t="$wrk_wall" -v cc=$((cc1 - cc0)) -v scv=$((scv1 - scv0)) -v hz="$hz" \
  'BEGIN { printf "CPU per assignment: CC %.0f us, SCV %.0f us\n", 1e6 * cc / hz / (r * t), 1e6 * scv / hz / (r * t) }'
awk -v w="$wrk_cpu" -v t="$wrk_wall" -v n="$ncpu" -v cc=$((cc1 - cc0)) -v scv=$((scv1 - scv0)) -v hz="$hz" \
  'BEGIN { printf "CPU share of %d cores: wrk %.0f%%, CC %.0f%%, SCV %.0f%%\n", n,
           100 * w / (t * n), 100 * cc / hz / (t * n), 100 * scv / hz / (t * n) }'
