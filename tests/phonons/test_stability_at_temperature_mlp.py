"""Stability at temperature with the screen's default model (7net-0) on the demo's cells: the checks of the
finite-temperature issue. Minutes each on 2 cores, so marked slow (`make test-all`); the figures they give are in
the README."""

from __future__ import annotations

import numpy as np
import pytest

from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.doping.hosts import relax_in_space_group
from na_lattice_flows.models import get_calculator
from na_lattice_flows.phonons.finite_temperature import (
    EffectivePhononSettings,
    commensurate_frequencies,
    effective_phonons,
    lowest_frequency,
    lowest_frequency_off_translations,
    model_forces_of,
    stability_at_temperature,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
from na_lattice_flows.phonons.stability import stability_screen
from na_lattice_flows.structure.supercells import paper_supercell

pytestmark = pytest.mark.slow
MODEL = "7net-0"


def harmonic_of(formula: str):
    calculator = get_calculator(MODEL)
    structure = relax_in_space_group(next(c for c in demo_candidates() if c.formula == formula).structure, calculator)
    matrix = paper_supercell(structure).supercell_matrix
    reference = random_displacement_reference(structure, matrix, lambda cells: predict_forces(cells, calculator), name=formula)
    verdict, ph = stability_screen(fit_force_constants(reference))
    return verdict, ph, calculator


def commensurate(ph, source=None) -> np.ndarray:
    from phonopy import Phonopy
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    source = source or ph
    work = Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix)
    return commensurate_frequencies(work, compact_fc_to_full_fc(source.primitive, source.force_constants))


@pytest.mark.parametrize("formula", ["Na3PS4", "Na3SbS4"])
def test_the_cubic_thiophosphate_and_thioantimonate_are_stable_at_800_K(formula):
    verdict, ph, calculator = harmonic_of(formula)
    assert not verdict.dynamically_stable  # harmonic: the zone-boundary soft mode
    at_800, effective, record = stability_at_temperature(ph, verdict, calculator, EffectivePhononSettings(temperature_K=800.0))
    assert record is not None and record.converged and at_800.dynamically_stable, at_800.reason
    assert lowest_frequency(commensurate(effective)) > 0.3  # THz: the soft mode is real and clearly so
    assert lowest_frequency_off_translations(effective) > 0.1


def test_cubic_na3sbs4_keeps_its_soft_mode_at_200_K():
    verdict, ph, calculator = harmonic_of("Na3SbS4")
    at_200, _, _ = stability_at_temperature(ph, verdict, calculator, EffectivePhononSettings(temperature_K=200.0))
    assert not at_200.dynamically_stable, at_200.reason


def test_nacl_is_nearly_harmonic_at_100_K_and_softened_but_real_at_800_K():
    verdict, ph, calculator = harmonic_of("NaCl")
    assert verdict.dynamically_stable
    harmonic = np.sort(commensurate(ph).ravel())[3:]
    forces_of = model_forces_of(ph, calculator)
    _, cold = effective_phonons(ph, forces_of, EffectivePhononSettings(temperature_K=100.0))
    _, hot = effective_phonons(ph, forces_of, EffectivePhononSettings(temperature_K=800.0))
    cold_f, hot_f = np.sort(commensurate(ph, cold).ravel())[3:], np.sort(commensurate(ph, hot).ravel())[3:]
    assert np.median(np.abs(cold_f / harmonic - 1)) < 0.04
    assert hot_f.min() > 0 and np.exp(np.mean(np.log(hot_f / harmonic))) < 1.0  # softened on (geometric) average
