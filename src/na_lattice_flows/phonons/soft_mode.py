"""The transition temperature of a displacive phase transition from its soft mode: a second route to T_C beside
NPT MD, feasible on a small cell on CPU.

Above a displacive transition the high-symmetry phase is held up by anharmonicity; its soft mode (for cubic
Na3SbS4 the zone-boundary mode at H that tilts the SbS4 tetrahedra into the tetragonal phase) hardens with T.
In Landau theory, and in the self-consistent harmonic approximation near T_C, the effective frequency squared is
linear in T,

    omega_eff^2(T) = s (T - T_C),

so the effective phonons (``finite_temperature``) at a few temperatures give omega_eff^2 at the soft mode's q,
a least-squares line gives T_C = -b/s (b the intercept at T = 0), and its standard error follows from the fit's
covariance (delta method: var T_C = (b/s^2)^2 var s + (1/s)^2 var b - 2 (b/s^3) cov(s, b)). A temperature whose
loop does not converge is recorded and left out of the fit. Writing the line fit by hand: it is three lines of
numpy, and no field library offers this extrapolation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError
from na_lattice_flows.phonons.finite_temperature import (
    EffectivePhononSettings,
    EffectivePhononsNotConverged,
    effective_phonons,
)


class SoftModePoint(BaseModel):
    """The soft mode's effective frequency at one temperature."""

    temperature_K: float
    frequency_thz: float | None = Field(
        None, description="Lowest effective frequency at the soft mode's q (imaginary: negative)"
    )
    frequency_squared_thz2: float | None = Field(
        None, description="Its square, signed: negative where imaginary"
    )
    iterations: int | None = None
    error: str | None = Field(
        None, description="Why this temperature has no frequency (the loop did not converge)"
    )


class SoftModeTransition(BaseModel):
    """The soft mode's frequency against temperature and where it crosses zero."""

    qpoint: list[float] = Field(
        description="Reduced coordinates of the soft mode (primitive reciprocal lattice)"
    )
    harmonic_frequency_thz: float
    points: list[SoftModePoint]
    slope_thz2_per_K: float | None = None
    transition_temperature_K: float | None = Field(
        None, description="Where omega_eff^2 extrapolates to zero"
    )
    transition_temperature_err_K: float | None = Field(
        None, description="Standard error of T_C from the line's covariance"
    )
    note: str | None = Field(
        None, description="Why there is no T_C (too few converged temperatures, no softening trend)"
    )


def lowest_frequency_at(ph: Phonopy, qpoint: Sequence[float]) -> float:
    """The lowest frequency (THz, imaginary negative) of ``ph``'s force constants at ``qpoint``."""
    ph.run_qpoints([list(qpoint)])
    return float(np.min(ph.get_qpoints_dict()["frequencies"]))


def transition_from_line(
    temperatures_K: Sequence[float], frequency_squared_thz2: Sequence[float]
) -> tuple[float, float, float]:
    """T_C (K), its standard error (K) and the slope (THz^2/K) of omega^2 = s (T - T_C) fitted to >= 3 points."""
    t, w2 = np.asarray(temperatures_K, float), np.asarray(frequency_squared_thz2, float)
    if len(t) < 3:
        raise InputError(
            f"a line with an uncertainty needs at least 3 converged temperatures, got {len(t)}"
        )
    # covariance scaled by the residuals (n - 2 dof)
    (slope, intercept), cov = np.polyfit(t, w2, 1, cov=True)
    if slope <= 0:
        raise InputError(
            f"omega_eff^2 does not rise with T (slope {slope:.3g} THz^2/K): no displacive soft mode to extrapolate"
        )
    tc = -intercept / slope
    gradient = np.array([intercept / slope**2, -1.0 / slope])  # d T_C / d (slope, intercept)
    return float(tc), float(np.sqrt(gradient @ cov @ gradient)), float(slope)


def soft_mode_transition(
    ph: Phonopy,
    forces_of: Callable[[np.ndarray], np.ndarray],
    temperatures_K: Sequence[float],
    qpoint: Sequence[float] | None = None,
    settings: dict | None = None,
    progress: Callable[[SoftModePoint], None] | None = None,
) -> SoftModeTransition:
    """omega_eff^2 of the soft mode at each temperature and the T_C it extrapolates to. ``qpoint`` None: the
    q-point of the harmonic stability screen's softest soft mode (on its mesh and path; the effective phonons are
    exact only where the supercell is commensurate, as R and H are for the cubic cells' 2x2x2). ``settings``: more
    ``EffectivePhononSettings`` fields."""
    from na_lattice_flows.phonons.stability import dynamic_stability

    if qpoint is None:
        verdict = dynamic_stability(ph)
        if verdict.softest_soft_mode_qpoint is None:
            raise InputError(
                "the harmonic phonons have no soft mode: give the q-point of the transition"
            )
        qpoint = verdict.softest_soft_mode_qpoint
    harmonic = lowest_frequency_at(ph, qpoint)
    points, start = [], ph
    # from the hot, stable side down
    for temperature in sorted((float(t) for t in temperatures_K), reverse=True):
        try:
            record, effective = effective_phonons(
                start,
                forces_of,
                EffectivePhononSettings(temperature_K=temperature, **(settings or {})),
            )
            start = effective  # the next, colder loop starts here: near T_C, not from the harmonic instability
            frequency = lowest_frequency_at(effective, qpoint)
            point = SoftModePoint(
                temperature_K=temperature,
                frequency_thz=frequency,
                frequency_squared_thz2=float(np.sign(frequency) * frequency**2),
                iterations=len(record.iterations),
            )
        except EffectivePhononsNotConverged as exc:
            point = SoftModePoint(temperature_K=temperature, error=str(exc))
        points.append(point)
        if progress is not None:
            progress(point)
    transition = SoftModeTransition(
        qpoint=[float(x) for x in qpoint], harmonic_frequency_thz=harmonic, points=points[::-1]
    )
    converged = [p for p in points if p.frequency_squared_thz2 is not None]
    try:
        tc, err, slope = transition_from_line(
            [p.temperature_K for p in converged], [p.frequency_squared_thz2 for p in converged]
        )
    except ValueError as exc:
        transition.note = str(exc)
        return transition
    (
        transition.transition_temperature_K,
        transition.transition_temperature_err_K,
        transition.slope_thz2_per_K,
    ) = tc, err, slope
    if tc <= 0:
        transition.note = f"the line extrapolates to {tc:.0f} K: the mode does not soften toward a transition in this range"
    return transition
