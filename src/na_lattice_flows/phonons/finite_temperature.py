"""Effective phonons at temperature T: the self-consistent harmonic approximation (SCHA), so that a phase that
anharmonicity stabilises (cubic Na3PS4, cubic Na3SbS4 above T_C) is judged stable where the harmonic screen
calls it unstable.

The loop (as hiphive's ``self_consistent_harmonic_model``, with a convergence test and the fit the harmonic step
uses): draw supercells from the thermal displacement distribution of the current force constants at T (hiphive's
phonon rattler, classical statistics as in MD; an imaginary mode is sampled with the amplitude of its |w^2|, so
that the potential along it is probed), compute their forces with the MLP (its residual forces on the ideal
supercell removed), fit second-order force constants to them (symfc, as the harmonic step), and mix:

    Phi_{n+1} = alpha Phi_fit + (1 - alpha) Phi_n

until self-consistency: the fit's frequencies at the supercell's commensurate q-points differ from those of the
force constants it was drawn from by less than ``tolerance_thz`` (the largest difference; measured before the
mixing, which would shrink it by alpha without bringing the loop nearer). Not converged after ``max_iterations``:
``EffectivePhononsNotConverged``, with the history.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import reference_from_phonopy


class EffectivePhononsNotConverged(RuntimeError):
    """The self-consistent loop did not converge within its iterations (the history says how far it got)."""


class EffectivePhononSettings(BaseModel):
    temperature_K: float = Field(gt=0, allow_inf_nan=False, description="Temperature of the thermal displacements")
    n_structures: int = Field(30, ge=1, description="Supercells drawn per iteration")
    alpha: float = Field(0.3, gt=0, le=1, description="Mixing of the new fit into the force constants")
    max_iterations: int = Field(30, ge=1)
    tolerance_thz: float = Field(0.1, gt=0, description="Largest fit-vs-input difference of a commensurate frequency that counts as converged")
    seed: int = Field(0, ge=0)


class IterationRecord(BaseModel):
    iteration: int
    min_frequency_thz: float = Field(description="Lowest commensurate frequency after mixing (imaginary: negative)")
    max_change_thz: float = Field(description="Largest difference of a commensurate frequency, fit vs the force constants drawn from")
    mean_displacement_A: float


class EffectivePhonons(BaseModel):
    """The converged effective force constants (full, eV/A^2, phonopy's (N, N, 3, 3)) and how they came."""

    temperature_K: float
    iterations: list[IterationRecord]
    converged: bool
    force_constants: list = Field(description="Full second-order force constants of the supercell, eV/A^2")


def commensurate_frequencies(ph: Phonopy, full_force_constants: np.ndarray) -> np.ndarray:
    """Frequencies (THz, imaginary negative) at the q-points the supercell resolves exactly."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    ph.force_constants = full_force_constants
    smat = np.linalg.inv(ph.primitive_matrix) @ ph.supercell_matrix  # supercell in primitive-cell units
    ph.run_qpoints(get_commensurate_points(np.rint(smat).astype(int)))
    return np.asarray(ph.get_qpoints_dict()["frequencies"])


def thermal_supercells(ph: Phonopy, full_force_constants: np.ndarray, n: int, temperature_K: float, seed: int) -> np.ndarray:
    """Displacements (n, N, 3), A, of supercells drawn from the classical thermal distribution of the force
    constants at T (hiphive's phonon rattler; |w^2| for imaginary modes)."""
    from ase import Atoms
    from hiphive.structure_generation import generate_phonon_rattled_structures

    supercell = ph.supercell
    ideal = Atoms(numbers=supercell.numbers, cell=supercell.cell, scaled_positions=supercell.scaled_positions, pbc=True)
    state = np.random.get_state()
    np.random.seed(seed)  # hiphive's rattler draws from numpy's global generator
    try:
        rattled = generate_phonon_rattled_structures(ideal, full_force_constants, n, temperature_K)
    finally:
        np.random.set_state(state)
    return np.asarray([atoms.positions - ideal.positions for atoms in rattled])


def effective_phonons(
    ph: Phonopy,
    forces_of: Callable[[np.ndarray], np.ndarray],
    settings: EffectivePhononSettings,
    progress: Callable[[IterationRecord], None] | None = None,
) -> tuple[EffectivePhonons, Phonopy]:
    """Self-consistent effective force constants of ``ph``'s supercell at ``settings.temperature_K``, starting from
    ``ph``'s (harmonic) force constants; ``forces_of(displacements (n, N, 3)) -> forces (n, N, 3)`` computes the
    model's forces on displaced supercells, its residual forces removed. Returns the record and a Phonopy object
    holding the effective force constants (compact, as the harmonic step's)."""
    from phonopy.harmonic.force_constants import compact_fc_to_full_fc

    work = Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix)
    fc = np.asarray(ph.force_constants)
    full = compact_fc_to_full_fc(ph.primitive, fc) if fc.shape[0] != fc.shape[1] else fc.copy()
    frequencies = commensurate_frequencies(work, full)
    history: list[IterationRecord] = []
    for iteration in range(1, settings.max_iterations + 1):
        displacements = thermal_supercells(work, full, settings.n_structures, settings.temperature_K, settings.seed + iteration)
        work.dataset = {"displacements": displacements, "forces": forces_of(displacements)}
        fitted = fit_force_constants(reference_from_phonopy(work, "effective", f"thermal displacements at {settings.temperature_K} K"),
                                     method="symfc")  # fmt: skip
        fitted_full = compact_fc_to_full_fc(fitted.primitive, fitted.force_constants)
        residual = float(np.abs(commensurate_frequencies(work, fitted_full) - frequencies).max())
        full = settings.alpha * fitted_full + (1 - settings.alpha) * full
        frequencies = commensurate_frequencies(work, full)
        record = IterationRecord(iteration=iteration, min_frequency_thz=float(frequencies.min()), max_change_thz=residual,
                                 mean_displacement_A=float(np.linalg.norm(displacements, axis=2).mean()))  # fmt: skip
        history.append(record)
        if progress is not None:
            progress(record)
        if residual < settings.tolerance_thz:
            return _result(ph, full, settings, history)
    raise EffectivePhononsNotConverged(
        f"effective phonons at {settings.temperature_K:g} K: not converged in {settings.max_iterations} iterations (last "
        f"change {history[-1].max_change_thz:.3f} THz, tolerance {settings.tolerance_thz:g}; lowest frequency "
        f"{history[-1].min_frequency_thz:.2f} THz): more structures per iteration or a smaller alpha"
    )


def _result(ph: Phonopy, full: np.ndarray, settings: EffectivePhononSettings, history) -> tuple[EffectivePhonons, Phonopy]:
    from phonopy.harmonic.force_constants import full_fc_to_compact_fc

    effective = Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix)
    effective.force_constants = full_fc_to_compact_fc(effective.primitive, full)
    record = EffectivePhonons(temperature_K=settings.temperature_K, iterations=history, converged=True, force_constants=full.tolist())
    return record, effective
