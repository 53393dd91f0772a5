"""The phonon step takes the model's forces on the undisplaced supercell off every displaced supercell's: a
relaxation stops at a finite fmax, and a force that does not depend on the displacements is no force constant.
Checked on Lennard-Jones argon (exact and free) with a constant force pattern added on top: the step's force
constants are those of the plain potential, and the same fit without the subtraction is not."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.lj import LennardJones
from md_helpers import ARGON
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.phonons import jobs
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import (
    predict_forces,
    random_displacement_reference,
    without_residual,
)

LJ_ARGUMENTS = {"sigma": ARGON["sigma"], "epsilon": ARGON["epsilon"], "rc": ARGON["cutoff"]}
# fcc argon labelled Na: the step's descriptors need Na sites
FCC_NA = AseAtomsAdaptor.get_structure(bulk("Ar", "fcc", a=5.26))
FCC_NA.replace_species({"Ar": "Na"})
MAKER = {"n_supercells": 3, "amplitude_A": 0.03, "min_supercell_atoms": 60, "fc_method": "symfc"}


class OffsetLennardJones(LennardJones):
    """LJ plus a fixed force on each atom (by index, summing to zero), whatever the positions: what a model
    feels on a cell relaxed to a finite fmax, 10 meV/A (the campaign's relaxed cells: 2-12 meV/A)."""

    def calculate(self, atoms=None, properties=("energy", "forces"), system_changes=()):
        super().calculate(atoms, properties, system_changes)
        offsets = np.random.default_rng(len(self.atoms)).normal(
            scale=0.01, size=(len(self.atoms), 3)
        )
        self.results["forces"] = self.results["forces"] + offsets - offsets.mean(axis=0)


def step_force_constants(monkeypatch, calculator) -> np.ndarray:
    monkeypatch.setattr(jobs, "get_calculator", lambda name: calculator)
    document = jobs.MLPPhononMaker(model="7net-0", **MAKER).phonons(FCC_NA, "fcc")
    return np.asarray(document.force_constants)


def test_the_phonon_step_fits_the_potential_not_the_residual_forces(monkeypatch):
    plain = step_force_constants(monkeypatch, LennardJones(**LJ_ARGUMENTS))
    offset = step_force_constants(monkeypatch, OffsetLennardJones(**LJ_ARGUMENTS))
    scale = np.abs(plain).max()
    assert np.abs(offset - plain).max() < 1e-8 * scale
    # the same supercells fitted with the residual forces left in: visibly other force constants
    kept = random_displacement_reference(
        FCC_NA,
        jobs.paper_supercell(FCC_NA, MAKER["min_supercell_atoms"]).supercell_matrix,
        lambda cells: predict_forces(cells, OffsetLennardJones(**LJ_ARGUMENTS)),
        name="fcc",
        n_supercells=MAKER["n_supercells"],
        amplitude_A=MAKER["amplitude_A"],
    )
    left_in = np.asarray(fit_force_constants(kept, method="symfc").force_constants)
    assert np.abs(left_in - plain).max() > 0.02 * scale, np.abs(left_in - plain).max() / scale


def test_without_residual_takes_the_last_supercell_off_the_others():
    forces = np.arange(3 * 2 * 3, dtype=float).reshape(3, 2, 3)
    assert np.array_equal(without_residual(forces), forces[:2] - forces[2])
