"""Effective phonons at temperature T: the self-consistent harmonic approximation (SCHA), so that a phase that
anharmonicity stabilises (cubic Na3PS4, cubic Na3SbS4 above T_C) is judged stable where the harmonic screen
calls it unstable.

The loop (as hiphive's ``self_consistent_harmonic_model``, with a convergence test and the fit the harmonic step
uses): draw supercells from the thermal displacement distribution of the current force constants at T (hiphive's
phonon rattler, classical statistics as in MD; an imaginary mode is sampled with the amplitude of its |w^2|, so
that the potential along it is probed), compute their forces with the MLP (its residual forces on the ideal
supercell removed), fit second-order force constants to them (symfc, as the harmonic step), and mix:

    Phi_{n+1} = alpha Phi_fit + (1 - alpha) Phi_n

The draws cap what one mode may do to any atom (``sampling_force_constants``), and the cap is a trust region: it
starts small and doubles after each fit that stayed close to the force constants it was drawn from, up to a
ceiling; a fit far from them, or a draw whose atoms move too far, is not mixed in and halves the cap for good.
Started wide, the draws of a harmonically unstable ionic cell leave the region its force constants describe and
the loop runs away from a spectrum no solid has (NaLiY2F8 with 7net-0 at 800 K; an MD at 800 K keeps it a solid);
started at the ceiling, hiphive's loop is what remains once the cap stops binding.

The loop is stochastic: each fit carries the noise of a finite sample (cubic Na3PS4 with 7net-0 at 800 K, 20
supercells per iteration: the fit's commensurate frequencies scatter by 0.18 THz RMS around the stationary ones,
however long it runs), so no single iteration's change can fall below a fixed tolerance. Convergence is judged on
window averages instead: with F the classical harmonic free energy per atom of the commensurate modes,

    F = (k_B T / N) sum_{q, nu} ln(h |nu_{q nu}| / k_B T)      (the three zero modes at Gamma left out)

the loop has converged when the mean of F over the last ``window`` iterations differs from its mean over the
``window`` before by less than ``free_energy_tolerance_meV`` (F = 3 k_B T <ln nu> + const per atom, so 1 meV
per atom at 800 K is a 0.5 % change of the geometric-mean frequency), and so does the mean of the lowest
commensurate frequency (the Gamma translations left out) by less than ``frequency_tolerance_thz``: F is a sum
over all modes and hardly sees the three that decide stability (in bcc LJ argon F settles while the soft mode
still drifts through zero). The result is the average of the mixed force constants over the last window, which
also averages the sampling noise down. Not converged after ``max_iterations``: ``EffectivePhononsNotConverged``,
with the history.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import numpy as np
from phonopy import Phonopy
from phonopy.physical_units import get_physical_units
from pydantic import BaseModel, Field

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import ase_atoms, predict_forces, reference_from_phonopy
from na_lattice_flows.phonons.stability import (
    StabilityVerdict,
    in_supercell_gamma_zone,
    mesh_and_path_frequencies,
    stability_screen,
)

ZERO_MODE_THZ = 0.05  # |nu| below this at Gamma: a translation, left out of the free energy
HARMONIC, FINITE_TEMPERATURE = "harmonic", "finite-temperature"  # the screen's stability methods
STABILITY_METHODS = (HARMONIC, FINITE_TEMPERATURE)


class EffectivePhononsNotConverged(RuntimeError):
    """The self-consistent loop did not converge within its iterations (the history says how far it got)."""


class EffectivePhononSettings(BaseModel):
    """The self-consistent loop's settings: temperature, draws per iteration, mixing, convergence."""

    temperature_K: float = Field(
        gt=0, allow_inf_nan=False, description="Temperature of the thermal displacements"
    )
    n_structures: int = Field(20, ge=1, description="Supercells drawn per iteration")
    alpha: float = Field(
        0.3, gt=0, le=1, description="Mixing of the new fit into the force constants"
    )
    window: int = Field(
        5, ge=1, description="Iterations averaged for the convergence test and the result"
    )
    max_iterations: int = Field(40, ge=2)
    free_energy_tolerance_meV: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="Largest change of the window-mean free energy per atom that counts as converged",
    )
    frequency_tolerance_thz: float = Field(
        0.05,
        gt=0,
        allow_inf_nan=False,
        description="Largest change of the window-mean lowest frequency that counts as converged",
    )
    max_mode_displacement_A: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="Largest rms displacement of any atom that one mode may cause in a draw, the ceiling of "
        "the per-mode cap (1 A: beyond melting for any one mode; 0.5 A already holds back bcc argon's soft "
        "mode at 60 K)",
    )
    initial_mode_displacement_A: float = Field(
        0.25,
        gt=0,
        allow_inf_nan=False,
        description="The per-mode cap of the first draw. The cap is a trust region: it doubles (up to the "
        "ceiling) after each fit that moved the spectrum by less than cap_growth_fit_change_thz, so that it "
        "binds only while the loop is far from its fixed point (NaLiY2F8 with 7net-0 at 800 K: drawn at 1 A or "
        "0.5 A per mode from its harmonic start it ran away; started at 0.25 A it converged, stable, at the 1 A "
        "ceiling; a 2.25 ps MD of it at 800 K keeps the solid, 0.2-0.4 A rms from the sites)",
    )
    cap_growth_fit_change_thz: float = Field(
        2.0,
        gt=0,
        allow_inf_nan=False,
        description="A fit that moves the commensurate frequencies by less than this (rms) doubles the cap",
    )
    max_fit_change_thz: float = Field(
        8.0,
        gt=0,
        allow_inf_nan=False,
        description="A fit that moves the commensurate frequencies by more than this (rms) from the force "
        "constants drawn from means the draw left the region they describe (NaLiY2F8 with 7net-0 at 800 K, "
        "drawn with 1 A per mode: 815 THz, and the loop ran away from it): it is not mixed in, and the next "
        "draw caps each mode at half the displacement, which becomes the cap's ceiling",
    )
    min_mode_displacement_A: float = Field(
        0.1, gt=0, allow_inf_nan=False, description="The smallest cap those halvings reach"
    )
    max_mean_displacement_A: float = Field(
        1.0,
        gt=0,
        description="A draw with a larger mean displacement is drawn again with half the per-mode cap; at the "
        "smallest cap it stops the loop: diverged",
    )
    runaway_factor: float = Field(
        3.0,
        gt=1,
        allow_inf_nan=False,
        description="The loop stops as running away when a window's mean lowest frequency is "
        "more imaginary than this many times the harmonic one (at least 1 THz): effective phonons soften a soft mode or "
        "stabilise it, they do not multiply it (pool structures went from -3 to -36 THz and -2e4 THz over 40 iterations). "
        "Judged from the second window on: the first is the transient from the harmonic start (NaLiY2F8 with 7net-0 at "
        "800 K went -9.8, -6.8, -3.9 THz before it recovered)",
    )
    seed: int = Field(0, ge=0)


class IterationRecord(BaseModel):
    """One iteration of the self-consistent loop."""

    iteration: int
    min_frequency_thz: float = Field(
        description="Lowest commensurate frequency after mixing, Gamma's translations left out (imaginary: negative)"
    )
    rms_change_thz: float = Field(
        description="RMS difference of the commensurate frequencies, fit vs the force constants drawn from"
    )
    free_energy_meV_per_atom: float = Field(
        description="Classical harmonic free energy of the mixed force constants"
    )
    mean_displacement_A: float
    mode_displacement_cap_A: float | None = Field(
        None,
        description="The per-mode displacement cap of this iteration's draw (None: records before 0.5)",
    )


class EffectivePhonons(BaseModel):
    """How the effective force constants came (they are returned apart, in a Phonopy object)."""

    temperature_K: float
    iterations: list[IterationRecord]
    converged: bool
    free_energy_change_meV: float = Field(
        description="Change of the window-mean free energy at convergence"
    )
    frequency_change_thz: float = Field(
        description="Change of the window-mean lowest frequency at convergence"
    )
    rejected_draws: int = Field(
        0,
        description="Draws whose fit moved the frequencies too far to be mixed in (drawn again, gentler)",
    )


def commensurate_frequencies(ph: Phonopy, full_force_constants: np.ndarray) -> np.ndarray:
    """Frequencies (THz, imaginary negative) at the q-points the supercell resolves exactly."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    ph.force_constants = full_force_constants
    # supercell in primitive-cell units
    smat = np.linalg.inv(ph.primitive_matrix) @ ph.supercell_matrix
    ph.run_qpoints(get_commensurate_points(np.rint(smat).astype(int)))
    return np.asarray(ph.get_qpoints_dict()["frequencies"])


def lowest_frequency(frequencies_thz: np.ndarray) -> float:
    """The lowest commensurate frequency but the three translations at Gamma (the first q-point)."""
    return float(
        min(
            np.min(frequencies_thz[1:], initial=np.inf),
            np.sort(frequencies_thz[0])[3:].min(initial=np.inf),
        )
    )


def classical_free_energy_meV(
    frequencies_thz: np.ndarray, temperature_K: float, n_atoms: int
) -> float:
    """F per atom (meV) of classical harmonic oscillators at the commensurate frequencies (module docstring);
    an imaginary mode counts with |nu|, which is enough to follow the loop's drift."""
    magnitudes = np.abs(np.asarray(frequencies_thz, float).ravel())
    magnitudes = magnitudes[magnitudes > ZERO_MODE_THZ]
    units = get_physical_units()
    kT_eV = units.KB * temperature_K
    return float(1000 * kT_eV * np.sum(np.log(magnitudes * units.THzToEv / kT_eV)) / n_atoms)


def sampling_force_constants(
    full_force_constants: np.ndarray,
    masses_amu: np.ndarray,
    temperature_K: float,
    max_mode_displacement_A: float,
) -> np.ndarray:
    """The force constants the supercells are drawn from: each of the supercell's modes (imaginary ones as |w^2|)
    stiffened where needed so that, drawn at T, it moves no atom by more than ``max_mode_displacement_A`` (rms);
    the three translations are left as they are. Classically <Q_s^2> = k_B T / w_s^2, and atom i moves by
    Q_s |e_is| / sqrt(m_i), so w_s^2 >= k_B T max_i(|e_is|^2 / m_i) / u_max^2. A mode near zero would otherwise
    be drawn with an amplitude ~ 1/w (a pool structure's first draw put atoms on top of each other and came back
    with -1e7 THz), while a soft mode spread over many atoms (cubic Na3SbS4's at R, bcc argon's) is not touched."""
    n = len(masses_amu)
    weights = 1.0 / np.sqrt(np.repeat(np.asarray(masses_amu, float), 3))
    dynamical = full_force_constants.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n) * np.outer(
        weights, weights
    )
    eigenvalues, vectors = np.linalg.eigh((dynamical + dynamical.T) / 2)  # eV / (A^2 amu)
    # max_i |e_is|^2 / m_i
    per_atom = np.sum((vectors * weights[:, None]).reshape(n, 3, -1) ** 2, axis=1).max(axis=0)
    floor = get_physical_units().KB * temperature_K * per_atom / max_mode_displacement_A**2
    translations = np.argsort(np.abs(eigenvalues))[:3]
    raised = np.maximum(np.abs(eigenvalues), floor)
    raised[translations] = eigenvalues[translations]
    rebuilt = (vectors * raised) @ vectors.T / np.outer(weights, weights)
    return rebuilt.reshape(n, 3, n, 3).transpose(0, 2, 1, 3)


def thermal_supercells(
    ph: Phonopy,
    full_force_constants: np.ndarray,
    n: int,
    temperature_K: float,
    seed: int,
    max_mode_displacement_A: float | None = None,
) -> np.ndarray:
    """Displacements (n, N, 3), A, of supercells drawn from the classical thermal distribution of the force
    constants at T (hiphive's phonon rattler; |w^2| for imaginary modes; each mode capped as
    ``sampling_force_constants`` does when ``max_mode_displacement_A`` is given)."""
    from hiphive.structure_generation import generate_phonon_rattled_structures

    ideal = ase_atoms(ph.supercell)
    if max_mode_displacement_A is not None:
        full_force_constants = sampling_force_constants(
            full_force_constants, ph.supercell.masses, temperature_K, max_mode_displacement_A
        )
    state = np.random.get_state()
    np.random.seed(seed)  # hiphive's rattler draws from numpy's global generator
    rattler_log = logging.getLogger("hiphive")
    level = rattler_log.level
    # it warns "Imaginary modes present" at every draw of an unstable start
    rattler_log.setLevel(logging.ERROR)
    try:
        rattled = generate_phonon_rattled_structures(ideal, full_force_constants, n, temperature_K)
    finally:
        rattler_log.setLevel(level)
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

    work = Phonopy(
        ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix
    )
    n_atoms = len(work.supercell.numbers)
    fc = np.asarray(ph.force_constants)
    full = compact_fc_to_full_fc(ph.primitive, fc) if fc.shape[0] != fc.shape[1] else fc.copy()
    frequencies = commensurate_frequencies(work, full)
    runaway_thz = settings.runaway_factor * min(lowest_frequency(frequencies), -1.0)
    history: list[IterationRecord] = []
    # the mixed force constants of the last window
    mixed: deque[np.ndarray] = deque(maxlen=settings.window)
    window, change, frequency_change = settings.window, float("nan"), float("nan")
    # the per-mode cap, a trust region (EffectivePhononSettings.initial_mode_displacement_A)
    ceiling = settings.max_mode_displacement_A
    cap, rejected = min(settings.initial_mode_displacement_A, ceiling), 0
    for iteration in range(1, settings.max_iterations + 1):
        displacements = thermal_supercells(
            work,
            full,
            settings.n_structures,
            settings.temperature_K,
            settings.seed + iteration,
            cap,
        )
        mean_displacement = float(np.linalg.norm(displacements, axis=2).mean())
        if (
            mean_displacement > settings.max_mean_displacement_A
            and cap > settings.min_mode_displacement_A
        ):
            # the cap, not the solid: a solid's atoms do not move that far (a pool iodate's first draw, 1 A per
            # mode over many soft modes: 5 A on average); drawn again, gentler
            cap = ceiling = max(cap / 2, settings.min_mode_displacement_A)
            rejected += 1
            continue
        if mean_displacement > settings.max_mean_displacement_A:
            raise EffectivePhononsNotConverged(
                f"effective phonons at {settings.temperature_K:g} K: diverged in iteration {iteration} (mean thermal displacement "
                f"{mean_displacement:.2f} A > {settings.max_mean_displacement_A:g} A with each mode capped at {cap:g} A: the force "
                "constants no longer describe a solid)"
            )
        work.dataset = {"displacements": displacements, "forces": forces_of(displacements)}
        fitted = fit_force_constants(
            reference_from_phonopy(
                work, "effective", f"thermal displacements at {settings.temperature_K} K"
            ),
            method="symfc",
        )
        fitted_full = compact_fc_to_full_fc(fitted.primitive, fitted.force_constants)
        rms_change = float(
            np.sqrt(np.mean((commensurate_frequencies(work, fitted_full) - frequencies) ** 2))
        )
        if rms_change > settings.max_fit_change_thz and cap > settings.min_mode_displacement_A:
            # the draw, not the solid: no solid's spectrum moves that far; drawn again, gentler
            cap = ceiling = max(cap / 2, settings.min_mode_displacement_A)
            rejected += 1
            continue
        if rms_change > settings.max_fit_change_thz:
            # mixed in, such a fit sends the loop off (Na2TeO4 with 7net-0 at 800 K: -2.5e4 THz, then judged
            # "ran away"): at the narrowest cap it is the model's forces that describe no solid
            raise EffectivePhononsNotConverged(
                f"effective phonons at {settings.temperature_K:g} K: diverged in iteration {iteration} (a fit moved the "
                f"commensurate frequencies by {rms_change:.3g} THz rms > {settings.max_fit_change_thz:g} THz with each mode "
                f"capped at {cap:g} A: the force constants no longer describe a solid)"
            )
        full = settings.alpha * fitted_full + (1 - settings.alpha) * full
        frequencies = commensurate_frequencies(work, full)
        mixed.append(full)
        record = IterationRecord(
            iteration=iteration,
            min_frequency_thz=lowest_frequency(frequencies),
            rms_change_thz=rms_change,
            free_energy_meV_per_atom=classical_free_energy_meV(
                frequencies, settings.temperature_K, n_atoms
            ),
            mean_displacement_A=mean_displacement,
            mode_displacement_cap_A=cap,
        )
        history.append(record)
        if progress is not None:
            progress(record)
        if rms_change < settings.cap_growth_fit_change_thz:
            cap = min(2 * cap, ceiling)  # the draw was within the trust region: widen it
        if (
            len(history) >= 2 * window  # the first window is the transient from the harmonic start
            and (window_lowest := np.mean([r.min_frequency_thz for r in history[-window:]]))
            < runaway_thz
        ):
            raise EffectivePhononsNotConverged(
                f"effective phonons at {settings.temperature_K:g} K: ran away by iteration {iteration} (lowest frequency "
                f"{window_lowest:.2f} THz over the last {window} iterations, beyond {runaway_thz:.2f} THz, "
                f"{settings.runaway_factor:g}x the harmonic one): no effective harmonic solid at this temperature"
            )
        # two windows, both drawn with one cap: their means compare like with like
        steady_cap = len({r.mode_displacement_cap_A for r in history[-2 * window :]}) == 1
        if len(history) >= 2 * window and steady_cap:
            change, frequency_change = (
                _window_change(history, window, "free_energy_meV_per_atom"),
                _window_change(history, window, "min_frequency_thz"),
            )
            if (
                change < settings.free_energy_tolerance_meV
                and frequency_change < settings.frequency_tolerance_thz
            ):
                return _result(
                    ph,
                    np.mean(mixed, axis=0),
                    settings,
                    history,
                    change,
                    frequency_change,
                    rejected,
                )
    raise EffectivePhononsNotConverged(
        f"effective phonons at {settings.temperature_K:g} K: not converged in {settings.max_iterations} iterations (window means "
        f"still moving: free energy by {change:.2f} meV/atom, tolerance {settings.free_energy_tolerance_meV:g}; lowest frequency by "
        f"{frequency_change:.3f} THz, tolerance {settings.frequency_tolerance_thz:g}; last lowest frequency "
        f"{history[-1].min_frequency_thz:.2f} THz): more structures per iteration or a smaller alpha"
    )


def _window_change(history: list[IterationRecord], window: int, field: str) -> float:
    """|mean over the last window - mean over the window before| of one recorded quantity."""
    values = [getattr(record, field) for record in history[-2 * window :]]
    return abs(float(np.mean(values[window:]) - np.mean(values[:window])))


def _result(
    ph: Phonopy,
    full: np.ndarray,
    settings: EffectivePhononSettings,
    history,
    change: float,
    frequency_change: float,
    rejected: int = 0,
) -> tuple[EffectivePhonons, Phonopy]:
    from phonopy.harmonic.force_constants import full_fc_to_compact_fc

    effective = Phonopy(
        ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix
    )
    effective.force_constants = full_fc_to_compact_fc(effective.primitive, full)
    record = EffectivePhonons(
        temperature_K=settings.temperature_K,
        iterations=history,
        converged=True,
        free_energy_change_meV=change,
        frequency_change_thz=frequency_change,
        rejected_draws=rejected,
    )
    return record, effective


def model_forces_of(ph: Phonopy, calculator) -> Callable[[np.ndarray], np.ndarray]:
    """``forces_of`` for ``effective_phonons`` from an ASE calculator: its forces on ``ph``'s supercell displaced,
    less its residual forces on the ideal supercell (the model's own equilibrium differs a little from the cell's)."""
    ideal = ase_atoms(ph.supercell)
    residual = predict_forces([ideal], calculator)[0]

    def forces_of(displacements: np.ndarray) -> np.ndarray:
        cells = []
        for displacement in displacements:
            cell = ideal.copy()
            cell.positions += displacement
            cells.append(cell)
        return predict_forces(cells, calculator) - residual

    return forces_of


def lowest_frequency_off_translations(ph: Phonopy) -> float:
    """The lowest frequency (THz, imaginary negative) on the stability screen's mesh and path, the three acoustic
    branches inside the supercell's Brillouin zone around Gamma left out: what "the lowest effective frequency"
    means for a stable structure, whose overall minimum is the translations' zero at Gamma."""
    qpoints, frequencies = mesh_and_path_frequencies(ph)
    frequencies = np.sort(frequencies, axis=1)
    near_gamma = in_supercell_gamma_zone(ph, qpoints)
    return float(
        min(
            frequencies[~near_gamma].min(initial=np.inf),
            frequencies[near_gamma, 3:].min(initial=np.inf),
        )
    )


def stability_at_temperature(
    ph: Phonopy, harmonic: StabilityVerdict, calculator, settings: EffectivePhononSettings
) -> tuple[StabilityVerdict, Phonopy, EffectivePhonons | None]:
    """The screen's verdict at ``settings.temperature_K`` for a structure the harmonic screen calls unstable: the
    effective phonons' verdict, the force constants it was made on and the loop's record. A soft mode that
    survives at T keeps the structure unstable, and so does a loop that does not converge (the reason says which);
    then the harmonic force constants stand."""
    from tqdm.auto import tqdm

    temperature = f"{settings.temperature_K:g} K"
    bar = tqdm(
        total=settings.max_iterations,
        desc=f"effective phonons at {temperature}",
        unit="iteration",
        leave=False,
    )

    def progress(record: IterationRecord) -> None:
        bar.update()
        bar.set_postfix(
            F_meV=f"{record.free_energy_meV_per_atom:.2f}",
            lowest_THz=f"{record.min_frequency_thz:.2f}",
        )

    try:
        record, effective = effective_phonons(
            ph, model_forces_of(ph, calculator), settings, progress
        )
    except EffectivePhononsNotConverged as exc:
        reason = f"{harmonic.reason}; not judged at {temperature}: {exc}"
        return harmonic.model_copy(update={"dynamically_stable": False, "reason": reason}), ph, None
    finally:
        bar.close()
    verdict, effective = stability_screen(effective)
    iterations = f"effective phonons at {temperature}, {len(record.iterations)} iterations"
    if verdict.dynamically_stable:
        verdict.reason = f"stable at {temperature} ({iterations}; harmonically {harmonic.reason}): {verdict.reason}"
    else:
        verdict.reason = f"the soft mode survives at {temperature} ({iterations}): {verdict.reason}"
    return verdict, effective, record
