#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang, ASan + UBSan, in build-fuzz/)
# and runs each for SECONDS, then prints the executions per target.
#   scripts/fuzz.sh SECONDS [-j N] [TARGET...]   (TARGET: e.g. router or fuzz_router)
# -j N runs N targets at a time (default 1). Each target starts from its
# committed seeds (fuzz/corpus/<target>) plus what earlier runs found
# (build-fuzz/corpus/<target>). Exits non-zero on any crash, leak, timeout
# or failed property; the input that did it is kept in build-fuzz/crashes/
# and named in the output. Replay one: build-fuzz/fuzz/fuzz_<target> <file>.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-fuzz"

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then usage; fi
seconds=$1
shift
jobs=1
if [ "${1:-}" = "-j" ]; then
  [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
  jobs=$2
  shift 2
fi

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_WERROR=ON \
  -DST_FUZZ=ON -DST_SUBDIRS="src/util;src/config;src/runtime;src/cc;src/scv;src/client;src/core;tests/support" \
  >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target fuzz >/dev/null

if [ $# -gt 0 ]; then
  targets=("${@#fuzz_}")
else
  targets=()
  # A target is a file with libFuzzer's entry point; the rest are support.
  for f in "$root"/fuzz/fuzz_*.c; do
    t=$(basename "$f" .c)
    if grep -q LLVMFuzzerTestOneInput "$f"; then targets+=("${t#fuzz_}"); fi
  done
fi

mkdir -p "$build/crashes" "$build/logs"
# Files the targets make (credentials, stream trees) go to memory, not disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}

# run_one TARGET: one libFuzzer run; its log is build-fuzz/logs/TARGET.log.
run_one() {
  local t=$1 bin="$build/fuzz/fuzz_$1" corpus="$build/corpus/$1" seeds="$root/fuzz/corpus/$1"
  [ -x "$bin" ] || { echo "fuzz: no target '$t'" >"$build/logs/$t.log"; return 1; }
  mkdir -p "$corpus" "$seeds"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$build/crashes/$t-" "$corpus" "$seeds" >"$build/logs/$t.log" 2>&1
}

# report TARGET STATUS: one line of the summary.
report() {
  local t=$1 rc=$2 log="$build/logs/$1.log" execs crash
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    printf '%-14s %12s executions  ok\n' "$t" "${execs:-?}"
    return 0
  fi
  crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  printf '%-14s %12s executions  FAILED (exit %s): %s\n' "$t" "${execs:-?}" "$rc" \
    "$(grep -m1 -E 'ERROR:|property failed|runtime error' "$log" || echo 'see log')"
  echo "  input: ${crash:-none kept}; log: $log"
  return 1
}

failed=0
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  rm -f "$build/logs/$t.rc"
  (
    rc=0
    run_one "$t" || rc=$?
    echo "$rc" >"$build/logs/$t.rc"
  ) &
done
wait
for t in "${targets[@]}"; do
  report "$t" "$(cat "$build/logs/$t.rc" 2>/dev/null || echo 1)" || failed=1
done
exit "$failed"
