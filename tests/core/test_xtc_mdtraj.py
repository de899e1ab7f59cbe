"""Our XTC writer and reader against MDTraj's (an independent implementation
of the format): MDTraj reads what we write and we read what MDTraj writes,
coordinates within half a step of 1 pm, box, time and step exact.

Usage: /usr/bin/python3 test_xtc_mdtraj.py XTC_TOOL (Debian's python3-mdtraj).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from mdtraj.formats import XTCTrajectoryFile

TOOL = sys.argv[1]
SYSTEMS = [(22, 4), (1924, 3), (9003, 3)]  # (atoms, frames)
# Half a step of 1/1000 nm, plus float32 rounding of coordinates up to ~10 nm.
TOLERANCE = 0.0005 + 2e-6


def tool(*args):
    subprocess.run([TOOL, *map(str, args)], check=True)


def read_frames(path, natoms):
    """Our .frames format (see xtc_tool.c), host byte order."""
    dtype = np.dtype([("natoms", "=i4"), ("step", "=i4"), ("time", "=f4"),
                      ("box", "=f4", (3, 3)), ("xyz", "=f4", (natoms, 3))])
    frames = np.fromfile(path, dtype=dtype)
    assert (frames["natoms"] == natoms).all(), "atom count"
    return frames


def same_frames(label, xyz, time, step, box, want):
    assert len(xyz) == len(want), f"{label}: {len(xyz)} frames, wrote {len(want)}"
    off = np.abs(xyz.astype(np.float64) - want["xyz"].astype(np.float64)).max()
    assert off <= TOLERANCE, f"{label}: coordinates off by {off * 1000:.4f} pm"
    assert (np.asarray(time, dtype=np.float32) == want["time"]).all(), f"{label}: time"
    assert (np.asarray(step) == want["step"]).all(), f"{label}: step"
    assert (np.asarray(box, dtype=np.float32) == want["box"]).all(), f"{label}: box"
    print(f"{label}: {len(xyz)} frames, {want['xyz'].shape[1]} atoms, max error {off * 1000:.4f} pm")


def check(workdir, natoms, nframes):
    source = os.path.join(workdir, f"{natoms}.frames")
    tool("make", natoms, nframes, 1000 + natoms, source)
    want = read_frames(source, natoms)

    ours = os.path.join(workdir, f"{natoms}-ours.xtc")
    tool("encode", source, ours)
    with XTCTrajectoryFile(ours) as f:
        xyz, time, step, box = f.read()
    same_frames(f"MDTraj reads ours ({os.path.getsize(ours)} bytes)", xyz, time, step, box, want)

    theirs = os.path.join(workdir, f"{natoms}-mdtraj.xtc")
    with XTCTrajectoryFile(theirs, "w") as f:
        f.write(want["xyz"], time=want["time"], step=want["step"], box=want["box"])
    back = os.path.join(workdir, f"{natoms}-back.frames")
    tool("decode", theirs, back)
    got = read_frames(back, natoms)
    same_frames(f"we read MDTraj's ({os.path.getsize(theirs)} bytes)", got["xyz"], got["time"],
                got["step"], got["box"], want)


def main():
    with tempfile.TemporaryDirectory() as workdir:
        for natoms, nframes in SYSTEMS:
            check(workdir, natoms, nframes)


if __name__ == "__main__":
    main()
