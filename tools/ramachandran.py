#!/usr/bin/python3
"""ramachandran.py: synced Siegetank streams -> a Ramachandran plot (PNG).

    tools/ramachandran.py --top TOPOLOGY.pdb --out PLOT.png STREAM_DIR [STREAM_DIR...]

Each STREAM_DIR is a folder made by `siegetank sync`: numbered partitions,
each with a frames.xtc. A stream's trajectory is its partitions' frames.xtc
in numeric order. TOPOLOGY.pdb gives the atoms, in the frames' order (the
topology.pdb that tools/prepare.py writes). The backbone dihedrals phi and
psi of every residue that has both are computed with MDTraj
(python3-mdtraj) and drawn with Matplotlib (python3-matplotlib), one colour
per stream. Prints one line per stream (frames, atoms, time span; streams
without frames yet are skipped) and the number of points plotted. Exit status: 0 done, 1 bad input, 2 usage error.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the repository's tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import debian_python  # noqa: E402

debian_python.require(["mdtraj", "matplotlib", "numpy"], ["python3-mdtraj", "python3-matplotlib"])

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import mdtraj  # noqa: E402
import numpy as np  # noqa: E402


def partitions(stream_dir):
    """The stream's frames.xtc files in numeric partition order."""
    if not os.path.isdir(stream_dir):
        sys.exit("ramachandran.py: no such folder: %s" % stream_dir)
    numbered = sorted(int(n) for n in os.listdir(stream_dir) if n.isdigit())
    files = [os.path.join(stream_dir, str(n), "frames.xtc") for n in numbered]
    return [f for f in files if os.path.isfile(f)]


def load_stream(stream_dir, topology):
    """The stream's trajectory, or None when no frames have been synced yet."""
    files = partitions(stream_dir)
    if not files:
        return None
    try:
        traj = mdtraj.load(files, top=topology)
    except Exception as e:  # MDTraj raises many kinds for a bad file or a mismatched topology
        sys.exit("ramachandran.py: cannot load %s with %s: %s" % (stream_dir, topology, e))
    if not np.all(np.isfinite(traj.xyz)):
        sys.exit("ramachandran.py: %s has non-finite coordinates" % stream_dir)
    return traj


def phi_psi(traj):
    """Degrees of phi and psi, flattened, of every residue that has both."""
    phi_atoms, phi = mdtraj.compute_phi(traj)
    psi_atoms, psi = mdtraj.compute_psi(traj)
    residue = lambda atom: traj.topology.atom(int(atom)).residue.index  # noqa: E731
    # psi's first atom and phi's second are the residue's own N.
    psi_column = {residue(atoms[0]): k for k, atoms in enumerate(psi_atoms)}
    phi_cols, psi_cols = [], []
    for j, atoms in enumerate(phi_atoms):
        k = psi_column.get(residue(atoms[1]))
        if k is not None:
            phi_cols.append(j)
            psi_cols.append(k)
    return np.degrees(phi[:, phi_cols]).ravel(), np.degrees(psi[:, psi_cols]).ravel()


def main(argv):
    p = argparse.ArgumentParser(prog="ramachandran.py",
                                description="Ramachandran plot of synced Siegetank streams (see docs/tutorial.md).")
    p.add_argument("streams", nargs="+", metavar="STREAM_DIR", help="a folder made by `siegetank sync`")
    p.add_argument("--top", required=True, help="topology PDB, atoms in the frames' order")
    p.add_argument("--out", required=True, help="PNG to write")
    a = p.parse_args(argv)
    if not os.path.isfile(a.top):
        sys.exit("ramachandran.py: no such file: %s" % a.top)

    fig, ax = plt.subplots(figsize=(6, 6))
    points = 0
    for i, stream_dir in enumerate(a.streams):
        traj = load_stream(stream_dir, a.top)
        if traj is None:
            print("%s: no frames yet" % stream_dir)
            continue
        phi, psi = phi_psi(traj)
        if phi.size == 0:
            sys.exit("ramachandran.py: %s has no residue with both phi and psi" % a.top)
        ax.scatter(phi, psi, s=4, alpha=0.5, color="C%d" % (i % 10), label=os.path.basename(stream_dir.rstrip("/"))[:8])
        points += phi.size
        print("%s: %d frames, %d atoms, t = %g..%g ps" % (stream_dir, traj.n_frames, traj.n_atoms,
                                                           traj.time[0], traj.time[-1]))
    if points == 0:
        sys.exit("ramachandran.py: no stream has frames yet (run cores, then siegetank sync)")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-180, 180)
    ax.set_xticks(range(-180, 181, 60))
    ax.set_yticks(range(-180, 181, 60))
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel("phi (degrees)")
    ax.set_ylabel("psi (degrees)")
    ax.set_title("Ramachandran plot: %d points from %d stream(s)" % (points, len(a.streams)))
    if len(a.streams) <= 10:
        ax.legend(loc="lower right", fontsize="x-small", markerscale=3)
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    print("%d points plotted into %s" % (points, a.out))


if __name__ == "__main__":
    main(sys.argv[1:])
