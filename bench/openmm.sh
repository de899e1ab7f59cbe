#!/usr/bin/env bash
# ns/day of `siegetank core --engine openmm` working a stream through a real
# local CC and SCV (frames every STEPS_PER_FRAME steps as XTC over HTTP, a
# checkpoint every FRAMES_PER_CHECKPOINT frames) against a bare OpenMM loop
# (st-bench-openmm-loop: Integrator::step back to back, nothing read out) on
# the same system, platform and threads, in the same run: bare, core, bare
# again. Two ratios:
#  - wall: the core's committed simulated time over the wall time of the
#    whole `siegetank core` process (start-up, assignment and the last
#    checkpoint included) against the loop's timed part;
#  - wall after start-up: the same from the moment the core logs that its
#    engine is ready;
#  - CPU: steps per CPU second (user + system) of each whole process, which
#    holds up when other work shares the machine (the wall ratio does not).
# Target: core / mean(bare) >= 0.97.
#   bench/openmm.sh [SYSTEM] [SECONDS] [THREADS] [STEPS_PER_FRAME] [FRAMES_PER_CHECKPOINT]
# SYSTEM: implicit (default; the tests' alanine dipeptide, 22 atoms, OBC2),
# explicit (alanine dipeptide in TIP3P water with PME, made by
# tools/prepare.py, ~1,650 atoms), or a folder holding system.xml,
# state.xml and integrator.xml. PLATFORM (env, default CPU).
source "$(dirname "$0")/lib.sh"
system=${1:-implicit}
seconds=${2:-60}
threads=${3:-1}
spf=${4:-1000}
fpc=${5:-10}
platform=${PLATFORM:-CPU}
loop=$build/bench/st-bench-openmm-loop
py=/usr/bin/python3
[ -x "$loop" ] || { echo "missing $loop: build first (or set ST_BUILD)" >&2; exit 1; }

dir=$tmp/system
case $system in
  implicit)
    mkdir -p "$dir"
    data=$bench_root/tests/core/data/openmm
    gunzip -c "$data/system.xml.gz" > "$dir/system.xml"
    gunzip -c "$data/state.xml.gz" > "$dir/state.xml"
    gunzip -c "$data/langevin.xml.gz" > "$dir/integrator.xml" ;;
  explicit)
    echo "preparing alanine dipeptide in explicit water..." >&2
    "$py" "$bench_root/tools/prepare.py" --out "$tmp/prep" --solvent explicit --equilibrate-steps 1000 \
      "$bench_root/share/alanine-dipeptide.pdb" >&2
    dir=$tmp/prep/stream_000 ;;
  *) dir=$system ;;
esac
dt=$("$py" -c 'import re,sys; print(re.search(r"stepSize=\"([^\"]+)\"", open(sys.argv[1]).read()).group(1))' \
  "$dir/integrator.xml")
atoms=$("$py" -c 'import sys, xml.etree.ElementTree as E; print(len(E.parse(sys.argv[1]).find("Particles")))' \
  "$dir/system.xml")

cc_setup
cc_start
scv_setup scv1
scv_start
key=$(engine_key openmm)
target=$(curl -sf -H "Authorization: $admin" \
  -d "{\"engines\":[\"openmm\"],\"stage\":\"private\",\"options\":{\"steps_per_frame\":$spf}}" "$cc_url/targets" |
  json_field target_id)
"$py" - "$dir" "$target" > "$tmp/stream.json" <<'PY'
import base64, gzip, json, sys
d, target = sys.argv[1:3]
files = {f"{n}.gz.b64": base64.b64encode(gzip.compress(open(f"{d}/{n}", "rb").read())).decode()
         for n in ("system.xml", "state.xml", "integrator.xml")}
print(json.dumps({"target_id": target, "files": files}))
PY
curl -sf -H "Authorization: $admin" --data-binary "@$tmp/stream.json" "$scv_url/streams" >/dev/null

# timed OUT CMD...: runs CMD with stdout in OUT; OUT.time gets "wall user sys".
timed() { local out=$1; shift; /usr/bin/time -f '%e %U %S' -o "$out.time" "$@" > "$out"; }
# bare N: one loop run; prints "ns_per_day steps_per_cpu_s".
bare() {
  timed "$tmp/bare$1.json" "$loop" "$dir" "$platform" "$threads" "$seconds" "$spf" "$dt"
  local ns all; ns=$(json_field ns_per_day < "$tmp/bare$1.json"); all=$(json_field all_steps < "$tmp/bare$1.json")
  read -r _ u s < "$tmp/bare$1.json.time"
  awk -v ns="$ns" -v n="$all" -v u="$u" -v s="$s" 'BEGIN { printf "%s %.1f\n", ns, n / (u + s) }'
}

echo "bare OpenMM loop ($seconds s)..." >&2
read -r bare1 cpu1 < <(bare 1)
echo "siegetank core ($seconds s)..." >&2
timed "$tmp/core.json" "$bin" core --cc "$cc_url" --key "$key" --target "$target" --engine openmm \
  --platform "$platform" --threads "$threads" --duration "$seconds" --frames-per-checkpoint "$fpc" --json \
  2>>"$tmp/core.log"
t_end=$(now_s)
read -r wall user sys < "$tmp/core.json.time"
# When the engine was ready (the core logs "stream ... at step N"): the wall
# time from there leaves out start-up (plugins, Context creation, assignment).
t_ready=$(grep -m1 ' at step ' "$tmp/core.log" | cut -d' ' -f1)
steady=$(awk -v a="$(date -d "$t_ready" +%s.%N)" -v b="$t_end" 'BEGIN { printf "%.2f\n", b - a }')
frames=$(json_field frames_committed < "$tmp/core.json")
errors=$(json_field errors < "$tmp/core.json")
[ "$errors" = 0 ] || { echo "the core reported errors:" >&2; cat "$tmp/core.log" >&2; exit 1; }
echo "bare OpenMM loop again ($seconds s)..." >&2
read -r bare2 cpu2 < <(bare 2)

awk -v b1="$bare1" -v b2="$bare2" -v c1="$cpu1" -v c2="$cpu2" -v f="$frames" -v spf="$spf" -v dt="$dt" \
  -v wall="$wall" -v steady="$steady" -v cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" -v atoms="$atoms" \
  -v sys="$system" -v p="$platform" -v th="$threads" -v fpc="$fpc" 'BEGIN {
  core = f * spf * dt * 86400 / 1000 / wall; bare = (b1 + b2) / 2
  ready = f * spf * dt * 86400 / 1000 / steady
  core_cpu = f * spf / cpu; bare_cpu = (c1 + c2) / 2
  printf "system %s (%d atoms), platform %s, %d thread(s), %d steps/frame, checkpoint every %d frames\n",
    sys, atoms, p, th, spf, fpc
  printf "bare OpenMM loop: %.2f ns/day (%.2f, %.2f); %.0f steps per CPU s\n", bare, b1, b2, bare_cpu
  printf "siegetank core:   %.2f ns/day (%d frames committed in %.2f s wall; %.2f ns/day in the %.2f s after start-up); %.0f steps per CPU s\n",
    core, f, wall, ready, steady, core_cpu
  printf "ratio core/bare:  %.3f wall, %.3f wall after start-up, %.3f CPU (target >= 0.97)\n", core / bare,
    ready / bare, core_cpu / bare_cpu
}'
