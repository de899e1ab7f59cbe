#!/usr/bin/python3
"""Loads an XTC trajectory with MDTraj and checks it as a scientist would
use it: check_trajectory.py XTC PDB FRAMES DT_PS
  - the topology's atom count, FRAMES frames, all coordinates finite;
  - times evenly spaced DT_PS apart, starting at DT_PS.
Prints one line and exits 0 when all hold, 1 with the reason otherwise."""
import sys

import mdtraj
import numpy as np


def main():
    xtc, pdb, frames, dt = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    top = mdtraj.load(pdb)
    traj = mdtraj.load(xtc, top=pdb)
    problems = []
    if traj.n_atoms != top.n_atoms:
        problems.append(f"{traj.n_atoms} atoms, the topology has {top.n_atoms}")
    if traj.n_frames != frames:
        problems.append(f"{traj.n_frames} frames, expected {frames}")
    if not np.all(np.isfinite(traj.xyz)):
        problems.append("non-finite coordinates")
    want = dt * np.arange(1, traj.n_frames + 1)
    if not np.allclose(traj.time, want, rtol=1e-6, atol=1e-4):
        problems.append(f"times not evenly spaced {dt} ps apart: {traj.time[:5]}...")
    if problems:
        print("trajectory check failed: " + "; ".join(problems))
        return 1
    print(f"mdtraj: {traj.n_frames} frames of {traj.n_atoms} atoms, {dt} ps apart, all finite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
