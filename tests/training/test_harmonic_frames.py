"""Harmonic training frames (``training.harmonic_frames``) against EMT: the labels are the reference's force
constants exactly (a fit to them gives those force constants back) and, at the screen's 0.03 A, EMT's own forces
on the same supercells to the anharmonic remainder."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT
from phonopy.harmonic.force_constants import compact_fc_to_full_fc
from pymatgen.core import Lattice, Structure

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import (
    displaced_supercells,
    predict_forces,
    random_displacement_reference,
)
from na_lattice_flows.training.harmonic_frames import harmonic_forces, harmonic_reference

CU3AU = Structure(
    Lattice.cubic(3.75),
    ["Au", "Cu", "Cu", "Cu"],
    [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
)


def emt_reference():
    calculator = EMT()
    return random_displacement_reference(
        CU3AU,
        [[2, 0, 0], [0, 2, 0], [0, 0, 2]],
        lambda cells: predict_forces(cells, calculator),
        name="Cu3Au",
        n_supercells=6,
        amplitude_A=0.01,
        seed=1,
    )


def full_fc(ph):
    return compact_fc_to_full_fc(ph.primitive, ph.force_constants)


def test_harmonic_forces_of_a_single_displacement_are_the_force_constant_column():
    rng = np.random.default_rng(0)
    fc = rng.normal(size=(4, 4, 3, 3))
    u = np.zeros((1, 4, 3))
    u[0, 2, 1] = 0.01  # atom 2 along y
    assert np.allclose(harmonic_forces(fc, u)[0], -0.01 * fc[:, 2, :, 1])


def test_harmonic_frames_hold_the_reference_force_constants_and_emt_forces():
    reference = emt_reference()
    frames = harmonic_reference(reference, n_frames=4, amplitude_A=0.03, seed=7)
    assert frames.forces.shape == (4, 32, 3)
    displacements = np.asarray(frames.dataset["displacements"])
    assert np.allclose(np.linalg.norm(displacements, axis=-1), 0.03)

    # fitted back (symfc, as the screen fits), the frames give the reference's force constants
    source, refitted = full_fc(fit_force_constants(reference)), full_fc(fit_force_constants(frames))
    assert np.abs(refitted - source).max() < 1e-6 * np.abs(source).max()

    # and EMT's forces on the same supercells, to the anharmonic part, which grows as the displacement
    # (measured: 1.9 % at 0.01 A, 5.6 % at 0.03 A)
    def relative_error(labels):
        emt = predict_forces(displaced_supercells(labels), EMT())
        return np.sqrt(np.mean((labels.forces - emt) ** 2) / np.mean(emt**2))

    small = relative_error(harmonic_reference(reference, n_frames=4, amplitude_A=0.01, seed=7))
    assert small < 0.025, small
    assert 2.5 < relative_error(frames) / small < 3.5
    # a label of the wrong sign, or of another atom order, is nowhere near
    emt = predict_forces(displaced_supercells(frames), EMT())
    assert np.sqrt(np.mean((-frames.forces - emt) ** 2) / np.mean(emt**2)) > 1.5
    assert np.sqrt(np.mean((frames.forces[:, ::-1] - emt) ** 2) / np.mean(emt**2)) > 0.5


def test_harmonic_atoms_carry_the_energy_their_forces_are_the_gradient_of():
    from na_lattice_flows.training.harmonic_frames import harmonic_atoms

    reference = emt_reference()
    frames = harmonic_atoms(
        reference, n_frames=2, amplitude_A=0.03, seed=3, undisplaced_energy_eV=-5.0
    )
    fc = full_fc(fit_force_constants(reference))
    ideal = reference.to_phonopy().supercell.positions
    for atoms in frames:
        u = atoms.positions - ideal
        # 1/2 u Phi u by the force constants themselves, and F = -Phi u
        assert atoms.get_potential_energy() == pytest.approx(
            -5.0 + 0.5 * np.einsum("ia,ijab,jb->", u, fc, u), rel=1e-9
        )
        assert np.allclose(atoms.get_forces(), -np.einsum("ijab,jb->ia", fc, u))
        assert atoms.info["configuration"] == "Cu3Au"
    # EMT's energy above the ideal cell agrees, to the anharmonic part
    emt = EMT()
    base = reference.to_phonopy().supercell
    from ase import Atoms

    ideal_atoms = Atoms(
        numbers=base.numbers, cell=base.cell, scaled_positions=base.scaled_positions, pbc=True
    )
    ideal_atoms.calc = emt
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = emt
        assert probe.get_potential_energy() - ideal_atoms.get_potential_energy() == pytest.approx(
            atoms.get_potential_energy() + 5.0, rel=0.1
        )
