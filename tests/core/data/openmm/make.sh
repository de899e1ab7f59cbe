#!/bin/sh
# Remakes the OpenMM test system of the core's tests with tools/prepare.py:
# alanine dipeptide (share/alanine-dipeptide.pdb, 22 atoms), amber14, OBC2
# implicit solvent, no cutoff, bonds to hydrogen constrained, minimized and
# equilibrated at 300 K on the Reference platform with a fixed seed.
#   system.xml.gz, state.xml.gz   the System and the starting State
#   verlet.xml.gz                 VerletIntegrator, 2 fs
#   langevin.xml.gz               LangevinMiddleIntegrator, 300 K, 1/ps, 2 fs
#   ala2.pdb                      the topology, atoms in the frames' order
# The outputs are committed, so the tests never depend on running this.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for integrator in verlet langevin; do
  /usr/bin/python3 "$root/tools/prepare.py" --out "$tmp/$integrator" --integrator "$integrator" --seed 2014 \
    --platform Reference "$root/share/alanine-dipeptide.pdb"
  gzip -9n < "$tmp/$integrator/stream_000/integrator.xml" > "$here/$integrator.xml.gz"
done
gzip -9n < "$tmp/verlet/stream_000/system.xml" > "$here/system.xml.gz"
gzip -9n < "$tmp/verlet/stream_000/state.xml" > "$here/state.xml.gz"
cp "$tmp/verlet/topology.pdb" "$here/ala2.pdb"
