"""Effective phonons at temperature (``phonons.finite_temperature``) on Lennard-Jones argon, a crystal whose model
is exact and cheap: at low T the effective frequencies are the harmonic ones; at 60 K (near melting, fixed volume)
they stiffen, by the same factor hiphive's own self-consistent loop finds; a loop that cannot converge in its
iterations says so; bad temperatures are refused."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones
from md_helpers import ARGON
from phonopy import Phonopy
from phonopy.harmonic.force_constants import compact_fc_to_full_fc
from pydantic import ValidationError
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.phonons.finite_temperature import (
    EffectivePhononSettings,
    EffectivePhononsNotConverged,
    commensurate_frequencies,
    effective_phonons,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference

LJ = LennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], smooth=True)
A = 5.30  # fcc argon's lattice parameter at ~60 K


@pytest.fixture(scope="module")
def harmonic():
    """Harmonic force constants of a 2x2x2 conventional supercell (32 atoms) from 0.01 A displacements."""
    cell = AseAtomsAdaptor.get_structure(bulk("Ar", "fcc", a=A, cubic=True))
    reference = random_displacement_reference(cell, [[2, 0, 0], [0, 2, 0], [0, 0, 2]], lambda cells: predict_forces(cells, LJ),
                                              name="Ar", n_supercells=4, amplitude_A=0.01)  # fmt: skip
    return fit_force_constants(reference)


def lj_forces(ph: Phonopy):
    supercell = ph.supercell
    ideal = Atoms(numbers=supercell.numbers, cell=supercell.cell, scaled_positions=supercell.scaled_positions, pbc=True)

    def forces_of(displacements):
        forces = []
        for displacement in displacements:
            atoms = ideal.copy()
            atoms.positions += displacement
            atoms.calc = LJ
            forces.append(atoms.get_forces())
        return np.asarray(forces)  # LJ fcc has no residual force at its sites: nothing to subtract

    return forces_of


def highest(ph: Phonopy, full_fc) -> float:
    fresh = Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix)
    return float(commensurate_frequencies(fresh, np.asarray(full_fc)).max())


def test_effective_phonons_are_harmonic_at_low_temperature_and_stiffen_as_hiphive_finds_near_melting(harmonic):
    from hiphive import ClusterSpace
    from hiphive.force_constant_model import ForceConstantModel
    from hiphive.self_consistent_phonons import self_consistent_harmonic_model

    harmonic_top = highest(harmonic, compact_fc_to_full_fc(harmonic.primitive, harmonic.force_constants))
    cold, _ = effective_phonons(harmonic, lj_forces(harmonic), EffectivePhononSettings(temperature_K=5.0, n_structures=10))
    assert cold.converged and highest(harmonic, cold.force_constants) == pytest.approx(harmonic_top, rel=0.02)
    warm, effective = effective_phonons(harmonic, lj_forces(harmonic), EffectivePhononSettings(temperature_K=60.0, n_structures=10))
    assert warm.converged and len(warm.iterations) > 1 and warm.iterations[-1].max_change_thz < 0.1
    ours = highest(harmonic, warm.force_constants) / harmonic_top
    assert 1.08 < ours < 1.20  # measured 1.13: the repulsive wall stiffens argon at fixed volume
    assert effective.force_constants.shape == harmonic.force_constants.shape  # compact, as the harmonic step's

    # hiphive's loop on the same model and supercell (its own rattler, cluster space and fit; nearest neighbours
    # only, so its absolute frequencies differ): the same stiffening factor
    ideal = bulk("Ar", "fcc", a=A, cubic=True).repeat((2, 2, 2))
    space = ClusterSpace(bulk("Ar", "fcc", a=A), [5.2])
    np.random.seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        parameters = self_consistent_harmonic_model(ideal, LJ, space, 60.0, 0.3, 12, 10)
    model = ForceConstantModel(ideal, space)
    tops = []
    for vector in (parameters[0], np.mean(parameters[-4:], axis=0)):
        model.parameters = vector
        tops.append(highest(harmonic, model.get_force_constants().get_fc_array(order=2)))
    assert ours == pytest.approx(tops[1] / tops[0], rel=0.03)


def test_a_loop_that_cannot_converge_says_so_and_bad_temperatures_are_refused(harmonic):
    settings = EffectivePhononSettings(temperature_K=60.0, n_structures=4, max_iterations=2, tolerance_thz=1e-4)
    with pytest.raises(EffectivePhononsNotConverged, match=r"at 60 K: not converged in 2 iterations \(last change .* tolerance 0.0001"):
        effective_phonons(harmonic, lj_forces(harmonic), settings)
    for temperature in (0.0, -300.0, float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="temperature_K"):
            EffectivePhononSettings(temperature_K=temperature)
