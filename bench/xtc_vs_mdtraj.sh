#!/usr/bin/env bash
# Compressed XTC: our encoder against MDTraj's (the GROMACS algorithm, C under
# Python) on the same frames of a solvated-protein-like system.
#   bench/xtc_vs_mdtraj.sh [NATOMS] [SECONDS]     (defaults 9000, 2)
# Runs st-bench-xtc (sizes, our MB/s and its references), then has MDTraj
# read those frames and write them again, timing the writes in CPU seconds
# as st-bench-xtc does. Needs Debian's python3-mdtraj (/usr/bin/python3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ST_BUILD:-$root/build}
natoms=${1:-9000}
seconds=${2:-2}
[ -x "$build/bench/st-bench-xtc" ] || { echo "missing $build/bench/st-bench-xtc: build first (or set ST_BUILD)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/st-bench-xtc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$build/bench/st-bench-xtc" "$natoms" "$seconds" "$tmp/ours.xtc"
/usr/bin/python3 - "$tmp" "$seconds" <<'PY'
import os, sys, time
from mdtraj.formats import XTCTrajectoryFile
tmp, seconds = sys.argv[1], float(sys.argv[2])
with XTCTrajectoryFile(os.path.join(tmp, "ours.xtc")) as f:
    xyz, t, step, box = f.read()
theirs = os.path.join(tmp, "mdtraj.xtc")
writes, start = 0, time.process_time()
while True:
    with XTCTrajectoryFile(theirs, "w") as f:
        f.write(xyz, time=t, step=step, box=box)
    writes += 1
    if time.process_time() - start >= seconds:
        break
elapsed = time.process_time() - start
ours, mdtraj = os.path.getsize(os.path.join(tmp, "ours.xtc")), os.path.getsize(theirs)
frames, natoms = xyz.shape[0], xyz.shape[1]
print(f"MDTraj on the same {frames} frames: {mdtraj / frames:.0f} bytes/frame "
      f"(ours {ours / frames:.0f}: {mdtraj / ours:.3f}x smaller), "
      f"encode {writes * frames * 12 * natoms / elapsed / 1e6:.0f} MB/s including its file writes")
PY
