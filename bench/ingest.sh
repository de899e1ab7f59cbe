#!/usr/bin/env bash
# Frame ingest: MB/s of frame payload committed through checkpoints (frames
# sent base64 in JSON, as cores send them) against `dd conv=fsync` writing
# the same number of bytes to the same disk, in the same run.
#   bench/ingest.sh [SECONDS] [CORES] [FRAME_KB] [FRAMES_PER_CHECKPOINT]
source "$(dirname "$0")/lib.sh"
secs=${1:-10}
cores=${2:-8}
frame_kb=${3:-512}
frames=${4:-4}

cc_setup
cc_start
scv_setup scv1
target=$(make_target bench)
"$fill" scv "$scv_data" scv1 "$target" "$cores" > /dev/null
scv_start
activate_tokens "$target" bench "$cores" "$tmp/tokens"

perf_start scv "$scv_pid"
c0=$(cpu_ticks "$scv_pid")
/usr/bin/time -f '%e %U %S' -o "$tmp/load.time" \
  python3 "$bench_root/bench/ingest_load.py" "$scv_url" "$tmp/tokens" "$secs" "$frame_kb" "$frames" > "$tmp/load.json"
c1=$(cpu_ticks "$scv_pid")
perf_stop
read -r wall u s < "$tmp/load.time"
bytes=$(json_field committed_bytes < "$tmp/load.json")
wire=$(json_field wire_bytes < "$tmp/load.json")
took=$(json_field seconds < "$tmp/load.json")
mb=$(( (bytes + 1048575) / 1048576 ))
dd_out=$(dd if=/dev/urandom of="$scv_data/dd.bin" bs=1M count="$mb" conv=fsync 2>&1 | tail -1)
dd_rate=$(echo "$dd_out" | awk -F, '{ print $NF }')
dd_secs=$(echo "$dd_out" | awk -F, '{ sub(/ s$/, "", $3); print $3 }')
rm -f "$scv_data/dd.bin"
echo "$cores cores, ${frame_kb} KB frames (base64 in JSON), $frames frames per checkpoint, ${secs}s"
awk -v b="$bytes" -v w="$wire" -v t="$took" -v d="$dd_secs" -v mb="$mb" 'BEGIN {
  printf "siegetank ingest : %.1f MB/s committed (%.1f MB/s on the wire)\n", b / t / 1e6, w / t / 1e6
  printf "dd conv=fsync    : %.1f MB/s (%d MiB)\n", mb * 1048576 / d / 1e6, mb
  printf "ratio siegetank/dd: %.2f (target >= 0.5)\n", (b / t) / (mb * 1048576 / d) }'
awk -v u="$u" -v s="$s" -v t="$wall" -v n="$ncpu" -v c=$((c1 - c0)) -v hz="$hz" \
  'BEGIN { printf "CPU share of %d cores: load generator %.0f%%, SCV %.0f%%\n", n, 100 * (u + s) / (t * n), 100 * c / hz / (t * n) }'
[ -n "${BENCH_VERBOSE:-}" ] && { cat "$tmp/load.json"; echo "dd: $dd_out"; }
true
