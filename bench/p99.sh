#!/usr/bin/env bash
# p99 latency of heartbeats while checkpoints are committed at full rate,
# against the p99 of the same heartbeats with nothing else going on (target:
# at most 2x). Heartbeats come from their own process (one connection, about
# 1,000 a second, cycling through HB tokens); the ingest load is
# bench/ingest_load.py with CORES cores sending FRAME_KB frames and a
# checkpoint every 4 frames.
#   bench/p99.sh [SECONDS] [CORES] [FRAME_KB]
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
cores=${2:-8}
frame_kb=${3:-512}
hb=100

cc_setup
cc_start
scv_setup scv1
target=$(make_target bench)
"$fill" scv "$scv_data" scv1 "$target" $((cores + hb)) > /dev/null
scv_start
activate_tokens "$target" bench $((cores + hb)) "$tmp/tokens"
head -n $hb "$tmp/tokens" > "$tmp/hb_tokens"
tail -n +$((hb + 1)) "$tmp/tokens" > "$tmp/core_tokens"
probe() { python3 "$bench_root/bench/ingest_load.py" "$scv_url" "$tmp/hb_tokens" "$secs" 1 1 $hb; }

probe > "$tmp/idle.json"
nice -n 10 python3 "$bench_root/bench/ingest_load.py" "$scv_url" "$tmp/core_tokens" "$secs" "$frame_kb" 4 > "$tmp/load.json" &
load_pid=$!; pids+=($load_pid)
probe > "$tmp/busy.json"
wait $load_pid
field() { json_field "$1" < "$tmp/$2.json"; }
echo "heartbeats from 1 connection (~1,000/s) for ${secs}s; ingest: $cores cores, ${frame_kb} KB frames, checkpoint every 4"
awk -v a="$(field p50_ms idle)" -v b="$(field p99_ms idle)" -v c="$(field max_ms idle)" -v n="$(field heartbeats idle)" \
  'BEGIN { printf "no checkpoints : p50 %.2f ms, p99 %.2f ms, max %.1f ms (%d heartbeats)\n", a, b, c, n }'
awk -v a="$(field p50_ms busy)" -v b="$(field p99_ms busy)" -v c="$(field max_ms busy)" -v n="$(field heartbeats busy)" \
  -v mb="$(field committed_bytes load)" -v t="$(field seconds load)" \
  'BEGIN { printf "checkpointing  : p50 %.2f ms, p99 %.2f ms, max %.1f ms (%d heartbeats; %.1f MB/s committed)\n", a, b, c, n, mb / t / 1e6 }'
awk -v a="$(field p99_ms busy)" -v b="$(field p99_ms idle)" 'BEGIN { printf "ratio p99 busy/idle: %.2f (target <= 2)\n", a / b }'
