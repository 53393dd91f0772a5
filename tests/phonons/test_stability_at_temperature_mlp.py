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
    structure = relax_in_space_group(
        next(c for c in demo_candidates() if c.formula == formula).structure, calculator
    )
    matrix = paper_supercell(structure).supercell_matrix
    reference = random_displacement_reference(
        structure, matrix, lambda cells: predict_forces(cells, calculator), name=formula
    )
    verdict, ph = stability_screen(fit_force_constants(reference))
    return verdict, ph, calculator


def commensurate(ph, source=None) -> np.ndarray:
    from phonopy import Phonopy
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    source = source or ph
    work = Phonopy(
        ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix
    )
    return commensurate_frequencies(
        work, compact_fc_to_full_fc(source.primitive, source.force_constants)
    )


@pytest.mark.parametrize("formula", ["Na3PS4", "Na3SbS4"])
def test_the_cubic_thiophosphate_and_thioantimonate_are_stable_at_800_K(formula):
    verdict, ph, calculator = harmonic_of(formula)
    assert not verdict.dynamically_stable  # harmonic: the zone-boundary soft mode
    at_800, effective, record = stability_at_temperature(
        ph, verdict, calculator, EffectivePhononSettings(temperature_K=800.0)
    )
    assert record is not None and record.converged and at_800.dynamically_stable, at_800.reason
    # THz: the soft mode is real and clearly so
    assert lowest_frequency(commensurate(effective)) > 0.3
    assert lowest_frequency_off_translations(effective) > 0.1


def test_cubic_na3sbs4_keeps_its_soft_mode_at_50_K():
    """Well below the soft-mode line's T_C with 7net-0 (104 +- 31 K, README): at 200 K, the issue's example, the
    self-consistent phonons are already real (0.57 THz at R); at 50 K the soft mode survives."""
    verdict, ph, calculator = harmonic_of("Na3SbS4")
    at_50, _, _ = stability_at_temperature(
        ph, verdict, calculator, EffectivePhononSettings(temperature_K=50.0)
    )
    assert not at_50.dynamically_stable, at_50.reason
    assert at_50.reason.startswith("the soft mode survives at 50 K")


def test_nacl_is_nearly_harmonic_at_100_K_and_real_and_close_to_harmonic_at_800_K():
    """At the fixed 0 K cell, as the screen judges: 100 K within 4 % of harmonic (median, measured 1-2 %); 800 K
    never imaginary and within 15 % (measured: the lowest commensurate mode 1.30 -> 1.25 THz, the geometric-mean
    frequency +9.7 %: at fixed volume the quartic wall stiffens the optical modes, as in argon; the softening seen
    in experiment comes from thermal expansion, which a fixed-cell calculation leaves out)."""
    verdict, ph, calculator = harmonic_of("NaCl")
    assert verdict.dynamically_stable
    harmonic = np.sort(commensurate(ph).ravel())[3:]
    forces_of = model_forces_of(ph, calculator)
    _, cold = effective_phonons(ph, forces_of, EffectivePhononSettings(temperature_K=100.0))
    _, hot = effective_phonons(ph, forces_of, EffectivePhononSettings(temperature_K=800.0))
    cold_f, hot_f = (
        np.sort(commensurate(ph, cold).ravel())[3:],
        np.sort(commensurate(ph, hot).ravel())[3:],
    )
    assert np.median(np.abs(cold_f / harmonic - 1)) < 0.04
    assert hot_f.min() > 0 and 0.85 < np.exp(np.mean(np.log(hot_f / harmonic))) < 1.15
