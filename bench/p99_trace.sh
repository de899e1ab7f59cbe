#!/usr/bin/env bash
# Where the heartbeat tail of bench/p99.sh comes from. Runs bench/p99.sh
# with the given arguments, records `perf sched` (every CPU, call chains)
# for TRACE_SECONDS of its busy phase and prints, via bench/sched_waits.py,
# how many wake-ups of the SCV's event loops waited over 0.5 ms for a CPU,
# what held that CPU meanwhile, and for the waits behind the SCV's bulk
# worker who woke the loop and how the worker gave the CPU up. Counts from
# traces hold up on a shared machine where single p99 figures do not.
# Needs perf and root (or kernel.perf_event_paranoid <= -1).
#   bench/p99_trace.sh [TRACE_SECONDS] [p99.sh ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-4}
shift || true
out=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/st-p99-trace.XXXXXX")
"$here/p99.sh" "$@" > "$out/p99.txt" &
bench=$!
load=""
for _ in $(seq 1200); do
  load=$(pgrep -P "$bench" -f ingest_load.py || true)
  [ -n "$load" ] && break
  kill -0 "$bench" 2>/dev/null || break
  sleep 0.1
done
[ -n "$load" ] || { wait "$bench"; cat "$out/p99.txt"; echo "p99.sh never reached its busy phase" >&2; exit 1; }
scv=$(pgrep -P "$bench" -f "siegetank scv")
sleep 1
perf sched record -g -o "$out/perf.data" -a -- sleep "$secs" > /dev/null 2>&1
# The SCV's threads: id, CPU ticks, nice, policy, scheduler slice (the loops
# ask for 100 us); and every process the bench started (its own load).
for t in /proc/"$scv"/task/*; do
  echo "${t##*/} $(awk '{ print $14 + $15, $19, $41 }' "$t/stat") $(awk '/^se.slice/ { print $3 }' "$t/sched")"
done > "$out/threads.txt"
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
descendants "$bench" > "$out/tree.txt"
wait "$bench"
cat "$out/p99.txt"
perf sched timehist -w --max-stack 8 -i "$out/perf.data" 2> /dev/null |
  python3 "$here/sched_waits.py" "$out/threads.txt" "$out/tree.txt"
if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $out" >&2; else rm -rf "$out"; fi
