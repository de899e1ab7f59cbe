#!/usr/bin/env bash
# check-prepare.sh [REPO]: tools/prepare.py on the bundled alanine dipeptide
# and on bad input. The seed files must load back into OpenMM with the
# right atoms, every stream its own velocities from the same positions at
# time 0; explicit solvent and charmm36 must build; bad PDBs, unknown force
# fields and caps charmm36 cannot model must fail with a clear message and
# write nothing. The tool is started by whatever `python3` is first on PATH,
# as a reader might, to check that it finds Debian's OpenMM anyway.
set -uo pipefail
repo=$(realpath "${1:-$(dirname "$0")/../..}")
prepare="$repo/tools/prepare.py"
pdb="$repo/share/alanine-dipeptide.pdb"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/st-prepare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
quick=(--minimize-iterations 50 --equilibrate-steps 50)

pass() { echo "ok   $*"; }
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

# expect_error WANT_STATUS MESSAGE_PART ARGS...: fails with that status and says so, writing nothing.
expect_error() {
    local want=$1 part=$2 status
    shift 2
    rm -rf "$tmp/none"
    "$prepare" "$@" --out "$tmp/none" >"$tmp/out" 2>&1
    status=$?
    if [ "$status" -eq "$want" ] && grep -qF -- "$part" "$tmp/out" && [ ! -e "$tmp/none" ]; then
        pass "$* -> exit $status: $(tail -n 1 "$tmp/out")"
    else
        fail "$* -> exit $status, want $want and '$part': $(cat "$tmp/out")"
    fi
}

if python3 "$prepare" "$pdb" --out "$tmp/ala" --streams 3 --seed 7 "${quick[@]}" >"$tmp/out" 2>&1; then
    pass "python3 ($(command -v python3)) tools/prepare.py: $(cat "$tmp/out")"
else
    fail "tools/prepare.py on the bundled PDB: $(cat "$tmp/out")"
fi
if /usr/bin/python3 - "$tmp/ala" >"$tmp/out" 2>&1 <<'PY'; then
import json
import os
import sys

import numpy as np
import openmm
from openmm import app, unit

out = sys.argv[1]
load = lambda i, name: openmm.XmlSerializer.deserialize(open(os.path.join(out, "stream_%03d" % i, name)).read())
assert sorted(os.listdir(out)) == ["prepare.json", "stream_000", "stream_001", "stream_002", "topology.pdb"]
assert json.load(open(os.path.join(out, "prepare.json")))["atoms"] == 22
assert app.PDBFile(os.path.join(out, "topology.pdb")).topology.getNumAtoms() == 22
velocities, positions = [], []
for i in range(3):
    system, state, integrator = load(i, "system.xml"), load(i, "state.xml"), load(i, "integrator.xml")
    assert system.getNumParticles() == 22
    assert any(isinstance(f, openmm.CustomGBForce) for f in system.getForces()), "no OBC2 (CustomGBForce)"
    assert isinstance(integrator, openmm.LangevinMiddleIntegrator)
    assert abs(integrator.getStepSize().value_in_unit(unit.picosecond) - 0.002) < 1e-12
    assert state.getTime().value_in_unit(unit.picosecond) == 0 and state.getStepCount() == 0
    velocities.append(state.getVelocities(asNumpy=True).value_in_unit(unit.nanometer / unit.picosecond))
    positions.append(state.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setState(state)
    integrator.step(10)
    energy = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert np.isfinite(energy), energy
assert all(np.array_equal(positions[0], p) for p in positions[1:]), "streams start from different positions"
assert not np.allclose(velocities[0], velocities[1]) and not np.allclose(velocities[1], velocities[2])
print("3 streams of 22 atoms load into OpenMM and run; same positions, own velocities")
PY
    pass "$(cat "$tmp/out")"
else
    fail "the seed files: $(cat "$tmp/out")"
fi

if "$prepare" "$pdb" --out "$tmp/water" --solvent explicit --padding 0.6 --cutoff 0.8 --integrator verlet "${quick[@]}" >"$tmp/out" 2>&1 &&
    /usr/bin/python3 -c '
import sys, openmm
s = openmm.XmlSerializer.deserialize(open(sys.argv[1] + "/stream_000/system.xml").read())
nb = [f for f in s.getForces() if isinstance(f, openmm.NonbondedForce)][0]
assert nb.getNonbondedMethod() == openmm.NonbondedForce.PME and s.getNumParticles() > 300, s.getNumParticles()
i = openmm.XmlSerializer.deserialize(open(sys.argv[1] + "/stream_000/integrator.xml").read())
assert isinstance(i, openmm.VerletIntegrator)' "$tmp/water" >>"$tmp/out" 2>&1; then
    pass "explicit solvent (TIP3P, PME), Verlet: $(head -n 1 "$tmp/out")"
else
    fail "explicit solvent: $(cat "$tmp/out")"
fi

# A free alanine (zwitterion, OXT from the NME nitrogen's place): what charmm36 can model.
sed -n '/ ALA /{/  H/!p}' "$pdb" >"$tmp/ala-free.pdb"
sed -n 's/^HETATM   17  N   NME A   3\(.*\)  N  $/ATOM     17  OXT ALA A   2\1  O  /p' "$pdb" >>"$tmp/ala-free.pdb"
if "$prepare" "$tmp/ala-free.pdb" --out "$tmp/charmm" --forcefield charmm36 "${quick[@]}" >"$tmp/out" 2>&1; then
    pass "charmm36: $(cat "$tmp/out")"
else
    fail "charmm36 on a free alanine: $(cat "$tmp/out")"
fi

printf 'HEADER    NOT REALLY\nATOM      1  N   ALA A   1      xx.xxx   1.000   1.000  1.00  0.00           N\n' >"$tmp/bad.pdb"
: >"$tmp/empty.pdb"
sed 's/ ALA / XYZ /' "$pdb" >"$tmp/unknown.pdb"
expect_error 1 "bad.pdb:2: not a PDB atom record" "$tmp/bad.pdb"
expect_error 1 "has no ATOM or HETATM records" "$tmp/empty.pdb"
expect_error 1 "no such file" "$tmp/missing.pdb"
expect_error 1 "No template found for residue 2 (XYZ)" "$tmp/unknown.pdb"
expect_error 2 "invalid choice: 'gromos'" "$pdb" --forcefield gromos
expect_error 2 "--streams must be 1 to 10000" "$pdb" --streams 0
expect_error 1 "use --forcefield amber14" "$pdb" --forcefield charmm36

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all prepare.py checks passed"
