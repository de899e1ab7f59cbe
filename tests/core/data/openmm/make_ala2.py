#!/usr/bin/python3
"""Writes the OpenMM test system the core's tests use: alanine dipeptide
(ACE-ALA-NME, 22 atoms) in OBC2 implicit solvent with amber14, no cutoff, bonds to hydrogen
constrained.

Heavy atoms come from standard bond lengths and angles (trans peptides,
phi -70, psi 140), hydrogens from OpenMM's Modeller; the structure is
minimized and given velocities at 300 K. Outputs, in this folder:
  ala2.pdb                      topology and minimized coordinates
  system.xml.gz                 the System
  state.xml.gz                  positions, velocities, time 0, step 0
  verlet.xml.gz                 VerletIntegrator, 2 fs
  langevin.xml.gz               LangevinMiddleIntegrator, 300 K, 1/ps, 2 fs
Run it with Debian's interpreter (/usr/bin/python3, package python3-simtk).
The outputs are committed, so the tests never depend on running this."""
import gzip
import math
import os

import numpy as np
from openmm import (Context, LangevinMiddleIntegrator, LocalEnergyMinimizer, Platform, VerletIntegrator,
                    XmlSerializer, unit)
from openmm.app import HBonds, ForceField, Modeller, NoCutoff, PDBFile, Topology, element

HERE = os.path.dirname(os.path.abspath(__file__))


def place(a, b, c, bond, angle, torsion):
    """The point d with |cd| = bond, angle bcd and dihedral abcd (degrees)."""
    angle, torsion = math.radians(angle), math.radians(torsion)
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d2 = np.array([-bond * math.cos(angle), bond * math.sin(angle) * math.cos(torsion),
                   bond * math.sin(angle) * math.sin(torsion)])
    return c + d2[0] * bc + d2[1] * m + d2[2] * n


def heavy_atoms(phi, psi):
    """Angstrom coordinates of the ten heavy atoms, by residue."""
    ace_ch3 = np.array([0.0, 0.0, 0.0])
    ace_c = np.array([1.52, 0.0, 0.0])
    n = ace_c + 1.329 * np.array([-math.cos(math.radians(116.2)), math.sin(math.radians(116.2)), 0.0])
    ca = place(ace_ch3, ace_c, n, 1.458, 121.7, 180.0)
    c = place(ace_c, n, ca, 1.525, 111.2, phi)
    nme_n = place(n, ca, c, 1.329, 116.2, psi)
    nme_c = place(ca, c, nme_n, 1.458, 121.7, 180.0)
    ace_o = place(ca, n, ace_c, 1.231, 123.0, 0.0)
    o = place(nme_c, nme_n, c, 1.231, 123.0, 0.0)
    cb = place(c, n, ca, 1.530, 110.5, -122.5)
    if np.dot(np.cross(c - ca, cb - ca), n - ca) <= 0:
        raise SystemExit("CB placed as a D-amino acid")
    return [("ACE", [("CH3", ace_ch3), ("C", ace_c), ("O", ace_o)]),
            ("ALA", [("N", n), ("CA", ca), ("C", c), ("O", o), ("CB", cb)]),
            ("NME", [("N", nme_n), ("C", nme_c)])]


def build():
    top = Topology()
    chain = top.addChain()
    positions = []
    atoms = {}
    for rname, ratoms in heavy_atoms(-70.0, 140.0):
        res = top.addResidue(rname, chain)
        for name, xyz in ratoms:
            atoms[(rname, name)] = top.addAtom(name, element.get_by_symbol(name[0]), res)
            positions.append(xyz * 0.1)
    for a, b in [(("ACE", "CH3"), ("ACE", "C")), (("ACE", "C"), ("ACE", "O")), (("ACE", "C"), ("ALA", "N")),
                 (("ALA", "N"), ("ALA", "CA")), (("ALA", "CA"), ("ALA", "C")), (("ALA", "C"), ("ALA", "O")),
                 (("ALA", "CA"), ("ALA", "CB")), (("ALA", "C"), ("NME", "N")), (("NME", "N"), ("NME", "C"))]:
        top.addBond(atoms[a], atoms[b])
    return top, positions * unit.nanometer


def gz(name, text):
    with gzip.GzipFile(os.path.join(HERE, name), "wb", mtime=0) as f:
        f.write(text.encode())


def main():
    ff = ForceField("amber14-all.xml", "implicit/obc2.xml")
    top, pos = build()
    modeller = Modeller(top, pos)
    modeller.addHydrogens(ff)
    system = ff.createSystem(modeller.topology, nonbondedMethod=NoCutoff, constraints=HBonds)
    dt = 0.002 * unit.picoseconds
    context = Context(system, VerletIntegrator(dt), Platform.getPlatformByName("Reference"))
    context.setPositions(modeller.positions)
    LocalEnergyMinimizer.minimize(context, 1.0, 500)
    context.setVelocitiesToTemperature(300 * unit.kelvin, 2014)
    state = context.getState(getPositions=True, getVelocities=True, getParameters=True, getEnergy=True)
    with open(os.path.join(HERE, "ala2.pdb"), "w") as f:
        PDBFile.writeFile(modeller.topology, state.getPositions(), f)
    gz("system.xml.gz", XmlSerializer.serialize(system))
    gz("state.xml.gz", XmlSerializer.serialize(state))
    gz("verlet.xml.gz", XmlSerializer.serialize(VerletIntegrator(dt)))
    gz("langevin.xml.gz", XmlSerializer.serialize(LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, dt)))
    print(system.getNumParticles(), "atoms; potential", state.getPotentialEnergy())


if __name__ == "__main__":
    main()
