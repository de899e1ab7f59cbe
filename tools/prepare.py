#!/usr/bin/python3
"""prepare.py: a PDB file -> the seed files of Siegetank OpenMM streams.

    tools/prepare.py PDB --out DIR [--streams N] [--forcefield amber14|charmm36]
                     [--solvent implicit|explicit] [--temperature K] ...

Builds the system with OpenMM's Python layer (Debian python3-simtk):
hydrogens added for pH 7, the force field (amber14 by default, or
charmm36), implicit solvent (OBC2, no cutoff) or explicit water (TIP3P in
a box padded around the solute, neutralized, PME), bonds to hydrogen
constrained, and a Langevin integrator (or velocity Verlet). The structure
is energy-minimized and equilibrated briefly at the temperature; then each
of the N streams gets its own Maxwell-Boltzmann velocities, with time and
step count reset to 0. Writes:

    DIR/stream_000/system.xml, state.xml, integrator.xml   (one folder per stream)
    DIR/topology.pdb   the prepared atoms in the order of the trajectories' frames
    DIR/prepare.json   the options and versions used

`siegetank stream add --target T DIR/stream_000/*.xml` uploads one stream.
See docs/tutorial.md. Exit status: 0 done, 1 bad input or OpenMM failed,
2 usage error.
"""
import argparse
import json
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the repository's tools/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import debian_python  # noqa: E402

debian_python.require(["openmm", "openmm.app"], ["python3-simtk"])

import openmm  # noqa: E402
from openmm import app, unit  # noqa: E402

# Per force field: its files, plus those of each solvent model.
FORCEFIELDS = {
    "amber14": {"base": ["amber14-all.xml"], "implicit": ["implicit/obc2.xml"],
                "explicit": ["amber14/tip3p.xml"]},
    "charmm36": {"base": ["charmm36.xml"], "implicit": ["implicit/obc2.xml"],
                 "explicit": ["charmm36/water.xml"]},
}
CAPS = ("ACE", "NME")


class PrepareError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="prepare.py", description="Turns a PDB file into system.xml, state.xml and "
        "integrator.xml for N Siegetank OpenMM streams (see docs/tutorial.md).")
    p.add_argument("pdb", help="input structure (PDB)")
    p.add_argument("--out", required=True, help="output folder (made if missing)")
    p.add_argument("--streams", type=int, default=1, help="streams to make, each with its own velocities (1)")
    p.add_argument("--forcefield", choices=sorted(FORCEFIELDS), default="amber14",
                   help="force field (amber14)")
    p.add_argument("--solvent", choices=["implicit", "explicit"], default="implicit",
                   help="implicit: OBC2 generalized Born; explicit: TIP3P water box with PME (implicit)")
    p.add_argument("--temperature", type=float, default=300.0, help="kelvin (300)")
    p.add_argument("--timestep", type=float, default=2.0, help="femtoseconds (2)")
    p.add_argument("--friction", type=float, default=1.0, help="Langevin friction, 1/ps (1)")
    p.add_argument("--integrator", choices=["langevin", "verlet"], default="langevin",
                   help="langevin (LangevinMiddleIntegrator, the default) or verlet (no thermostat)")
    p.add_argument("--padding", type=float, default=1.0, help="explicit: water around the solute, nm (1.0)")
    p.add_argument("--cutoff", type=float, default=1.0, help="explicit: nonbonded cutoff, nm (1.0)")
    p.add_argument("--minimize-iterations", type=int, default=1000,
                   help="energy minimization iterations; 0 means until converged (1000)")
    p.add_argument("--equilibrate-steps", type=int, default=5000,
                   help="time steps of equilibration after minimizing (5000)")
    p.add_argument("--seed", type=int, default=None, help="random seed for velocities (random)")
    p.add_argument("--platform", choices=["CPU", "Reference"], default="CPU",
                   help="OpenMM platform for minimizing and equilibrating (CPU)")
    a = p.parse_args(argv)
    checks = [(a.streams < 1 or a.streams > 10000, "--streams must be 1 to 10000"),
              (a.temperature <= 0, "--temperature must be > 0"),
              (not 0 < a.timestep <= 10, "--timestep must be in (0, 10] fs"),
              (a.friction < 0, "--friction must be >= 0"),
              (a.padding <= 0 or a.cutoff <= 0, "--padding and --cutoff must be > 0"),
              (a.minimize_iterations < 0 or a.equilibrate_steps < 0,
               "--minimize-iterations and --equilibrate-steps must be >= 0")]
    for bad, message in checks:
        if bad:
            p.error(message)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2**30)
    return a


def check_atom_records(path):
    """OpenMM's reader fails on malformed records with bare assertions; name the line instead."""
    atoms = 0
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.startswith(("ATOM  ", "HETATM")):
                continue
            try:
                [float(line[i:i + 8]) for i in (30, 38, 46)]
            except ValueError:
                raise PrepareError("%s:%d: not a PDB atom record (coordinates in columns 31-54): %r"
                                   % (path, number, line.rstrip()[:80]))
            atoms += 1
    if atoms == 0:
        raise PrepareError("%s has no ATOM or HETATM records" % path)


def load_pdb(path):
    if not os.path.isfile(path):
        raise PrepareError("no such file: %s" % path)
    check_atom_records(path)
    try:
        pdb = app.PDBFile(path)
    except Exception as e:  # the PDB reader raises many kinds on bad input
        raise PrepareError("cannot read %s as PDB: %s: %s" % (path, type(e).__name__, e))
    return pdb


def build_model(a, pdb, forcefield):
    names = {r.name for r in pdb.topology.residues()}
    if a.forcefield == "charmm36" and names.intersection(CAPS):
        raise PrepareError(
            "charmm36 in OpenMM 7.7 models the ACE and NME caps as patches of the neighbouring residue, "
            "so it cannot use this PDB's separate %s residues; use --forcefield amber14"
            % "/".join(sorted(names.intersection(CAPS))))
    model = app.Modeller(pdb.topology, pdb.positions)
    try:
        model.addHydrogens(forcefield, pH=7.0)
        if a.solvent == "explicit":
            model.addSolvent(forcefield, model="tip3p", padding=a.padding * unit.nanometer, neutralize=True)
    except Exception as e:
        raise PrepareError("%s cannot build the model from %s: %s" % (a.forcefield, a.pdb, e))
    return model


def create_system(a, forcefield, topology):
    if a.solvent == "explicit":
        kw = dict(nonbondedMethod=app.PME, nonbondedCutoff=a.cutoff * unit.nanometer)
    else:
        kw = dict(nonbondedMethod=app.NoCutoff)
    try:
        return forcefield.createSystem(topology, constraints=app.HBonds, rigidWater=True, **kw)
    except Exception as e:
        raise PrepareError("%s cannot parameterize %s: %s" % (a.forcefield, a.pdb, e))


def make_integrator(a):
    dt = a.timestep * unit.femtoseconds
    if a.integrator == "verlet":
        return openmm.VerletIntegrator(dt)
    return openmm.LangevinMiddleIntegrator(a.temperature * unit.kelvin, a.friction / unit.picosecond, dt)


def check_finite(state, what):
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    if energy != energy or abs(energy) == float("inf"):
        raise PrepareError("the potential energy is not finite after %s: the structure has clashes "
                           "or the force field does not fit it" % what)


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def prepare(a):
    forcefield = app.ForceField(*(FORCEFIELDS[a.forcefield]["base"] + FORCEFIELDS[a.forcefield][a.solvent]))
    pdb = load_pdb(a.pdb)
    model = build_model(a, pdb, forcefield)
    system = create_system(a, forcefield, model.topology)
    integrator = make_integrator(a)
    platform = openmm.Platform.getPlatformByName(a.platform)
    sim = app.Simulation(model.topology, system, integrator, platform)
    sim.context.setPositions(model.positions)
    sim.minimizeEnergy(maxIterations=a.minimize_iterations)
    check_finite(sim.context.getState(getEnergy=True), "minimizing")
    sim.context.setVelocitiesToTemperature(a.temperature * unit.kelvin, a.seed)
    sim.step(a.equilibrate_steps)
    equilibrated = sim.context.getState(getPositions=True, getEnergy=True)
    check_finite(equilibrated, "equilibrating")

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "topology.pdb"), "w") as f:
        app.PDBFile.writeFile(model.topology, equilibrated.getPositions(), f, keepIds=True)
    system_xml = openmm.XmlSerializer.serialize(system)
    integrator_xml = openmm.XmlSerializer.serialize(integrator)
    for i in range(a.streams):
        sim.context.setState(equilibrated)
        sim.context.setTime(0.0)
        sim.context.setStepCount(0)
        sim.context.setVelocitiesToTemperature(a.temperature * unit.kelvin, a.seed + 1 + i)
        sim.context.applyVelocityConstraints(1e-6)
        state = sim.context.getState(getPositions=True, getVelocities=True, getEnergy=True,
                                     getParameters=True, enforcePeriodicBox=False)
        folder = os.path.join(a.out, "stream_%03d" % i)
        os.makedirs(folder, exist_ok=True)
        write(os.path.join(folder, "system.xml"), system_xml)
        write(os.path.join(folder, "integrator.xml"), integrator_xml)
        write(os.path.join(folder, "state.xml"), openmm.XmlSerializer.serialize(state))
    record = dict(vars(a), atoms=model.topology.getNumAtoms(), openmm=openmm.__version__,
                  pdb=os.path.abspath(a.pdb))
    write(os.path.join(a.out, "prepare.json"), json.dumps(record, indent=2, sort_keys=True) + "\n")
    print("%s: %d atoms, %s, %s solvent, %d stream(s) in %s/stream_000..%03d" %
          (a.pdb, model.topology.getNumAtoms(), a.forcefield, a.solvent, a.streams, a.out, a.streams - 1))


def main(argv):
    a = parse_args(argv)
    try:
        prepare(a)
    except PrepareError as e:
        sys.exit("prepare.py: %s" % e)
    except OSError as e:
        sys.exit("prepare.py: %s" % e)
    except openmm.OpenMMException as e:
        sys.exit("prepare.py: OpenMM failed: %s" % e)


if __name__ == "__main__":
    main(sys.argv[1:])
