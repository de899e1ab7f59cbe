#!/usr/bin/env bash
# check-ramachandran.sh [REPO]: tools/ramachandran.py on streams laid out as
# `siegetank sync` leaves them. Partitions must be joined in numeric order
# (5 before 10), a stream without frames yet is skipped, the PNG must be a
# plot, and missing data must fail with a clear message. The trajectories
# are written by MDTraj from a short OpenMM run of the bundled alanine
# dipeptide, so the phi/psi values are real ones.
set -uo pipefail
repo=$(realpath "${1:-$(dirname "$0")/../..}")
tool="$repo/tools/ramachandran.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/st-rama.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0

pass() { echo "ok   $*"; }
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

# Stream a: partitions 5 and 10 (frames 1-5, 6-10); stream b: 4 frames in
# one partition; stream c: seed files only.
"$repo/tools/prepare.py" "$repo/share/alanine-dipeptide.pdb" --out "$tmp/prep" --seed 3 \
    --minimize-iterations 50 --equilibrate-steps 50 >/dev/null || fail "prepare.py"
if ! /usr/bin/python3 - "$tmp" >"$tmp/out" 2>&1 <<'PY'; then
import os
import sys

import mdtraj
import numpy as np
import openmm
from openmm import unit

root = sys.argv[1]
read = lambda name: openmm.XmlSerializer.deserialize(open(os.path.join(root, "prep/stream_000", name)).read())
system, state, integrator = read("system.xml"), read("state.xml"), read("integrator.xml")
context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
context.setState(state)
top = mdtraj.load(os.path.join(root, "prep/topology.pdb")).topology
xyz, times = [], []
for _ in range(14):
    integrator.step(20)
    s = context.getState(getPositions=True)
    xyz.append(s.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    times.append(s.getTime().value_in_unit(unit.picosecond))
xyz, times = np.array(xyz), np.array(times)
for stream, first, last in (("a", 0, 5), ("a", 5, 10), ("b", 10, 14)):
    folder = os.path.join(root, "data", stream, str(last if stream == "a" else 4))
    os.makedirs(folder)
    mdtraj.Trajectory(xyz[first:last], top, time=times[first:last]).save_xtc(os.path.join(folder, "frames.xtc"))
os.makedirs(os.path.join(root, "data", "c", "files"))
PY
    fail "making trajectories: $(cat "$tmp/out")"
fi

if python3 "$tool" --top "$tmp/prep/topology.pdb" --out "$tmp/plot.png" "$tmp/data/a" "$tmp/data/b" \
    "$tmp/data/c" >"$tmp/out" 2>&1 &&
    grep -q "data/a: 10 frames, 22 atoms, t = 0.04..0.4 ps$" "$tmp/out" &&
    grep -q "data/b: 4 frames, 22 atoms" "$tmp/out" &&
    grep -q "data/c: no frames yet$" "$tmp/out" &&
    grep -q "^14 points plotted into $tmp/plot.png$" "$tmp/out" &&
    [ "$(head -c 8 "$tmp/plot.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then
    pass "partitions in numeric order, an empty stream skipped, a PNG: $(tr '\n' ';' <"$tmp/out")"
else
    fail "plot: $(cat "$tmp/out")"
fi

# expect_error MESSAGE_PART ARGS...: exit 1 and says so.
expect_error() {
    local part=$1 status
    shift
    python3 "$tool" --top "$tmp/prep/topology.pdb" --out "$tmp/none.png" "$@" >"$tmp/out" 2>&1
    status=$?
    if [ "$status" -eq 1 ] && grep -qF -- "$part" "$tmp/out" && [ ! -e "$tmp/none.png" ]; then
        pass "$* -> $(tail -n 1 "$tmp/out")"
    else
        fail "$* -> exit $status, want 1 and '$part': $(cat "$tmp/out")"
    fi
}
expect_error "no stream has frames yet" "$tmp/data/c"
expect_error "no such folder" "$tmp/data/missing"
head -c 100 "$tmp/prep/topology.pdb" >"$tmp/short.pdb"
cp -r "$tmp/data/b" "$tmp/b2"
python3 "$tool" --top "$tmp/short.pdb" --out "$tmp/none.png" "$tmp/b2" >"$tmp/out" 2>&1
if [ $? -eq 1 ] && grep -q "cannot load" "$tmp/out"; then
    pass "a topology that does not match the frames -> $(tail -n 1 "$tmp/out")"
else
    fail "a mismatched topology: $(cat "$tmp/out")"
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all ramachandran.py checks passed"
