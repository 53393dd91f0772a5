"""Diffusion from any MD trajectory (MLP, AIMD, VASP): per-element MSD(t) along x, y, z, diffusion
coefficients by the paper's zero-intercept fit, the melted-structure filter, the Na vibrational DOS from the
velocity autocorrelation, Nernst-Einstein conductivity and Arrhenius fits (kinisi's estimates: ``transport``).

Units: positions in A, times in ps (frame spacing given in fs where MD codes state it), D in A^2/ps
(1 A^2/ps = 1e-4 cm^2/s), frequencies in THz, conductivity in mS/cm.

The MSD, fit and VDOS are written here rather than taken from pymatgen-analysis-diffusion or kinisi because the
paper's definitions differ from both: per direction D = slope/2 with a zero-intercept fit on an all-origins MSD
(pymatgen fits with an intercept, kinisi samples a Bayesian posterior), and the melted filter needs the MSD of
the framework elements. Tests check these functions against both libraries on the same trajectory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError
from na_lattice_flows.md.trajectory import MDTrajectory

BOLTZMANN_EV_PER_K = 8.617333262e-5
ELEMENTARY_CHARGE_C = 1.602176634e-19
BOLTZMANN_J_PER_K = 1.380649e-23
# fraction of the run: skip the ballistic start, stop before few time origins remain
DEFAULT_FIT_WINDOW = (
    0.1,
    0.5,
)
MELT_D_THRESHOLD_A2_PER_PS = 1e-2
MELT_MSD_THRESHOLD_A2 = 1.0
MELT_TAIL_FRACTION = 0.2
# A solid's vibrational MSD plateau (~0.05 A^2 per axis at 800 K) read through the zero-intercept fit looks like
# D ~ plateau / (0.7 T) per axis for a run of length T; below ~10 ps that exceeds the 1e-2 A^2/ps melt threshold
# for any solid, so the D criterion is applied only to runs at least this long (the paper's runs are 60 ps).
MIN_MELT_FILTER_DURATION_PS = 10.0


def msd_xyz(positions: np.ndarray) -> np.ndarray:
    """Mean squared displacement along x, y, z for every lag (n_frames, 3), averaged over all time origins and
    the given atoms (positions (n_frames, n_atoms, 3), unwrapped). FFT algorithm: O(n log n) per atom and axis."""
    x = np.asarray(positions, dtype=float)
    n = len(x)
    # sum over origins t0 = 0 .. n-lag-1 of x(t0+lag)^2 + x(t0)^2, from prefix sums C[i] = sum_{k<i} x(k)^2
    prefix = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x**2, axis=0)])
    lags = np.arange(n)
    sum_squares = (prefix[n] - prefix[lags]) + prefix[n - lags]
    spectrum = np.fft.rfft(x, n=2 * n, axis=0)
    cross = np.fft.irfft(spectrum * spectrum.conj(), axis=0)[
        :n
    ]  # sum over origins of x(t0) x(t0+lag)
    counts = (n - np.arange(n))[:, None, None]
    per_atom = (sum_squares - 2 * cross) / counts
    return per_atom.mean(axis=1)


def zero_intercept_slope(times: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of values = slope * times (no intercept), the paper's fit."""
    return float(np.dot(times, values) / np.dot(times, times))


def msd_growth(times_ps: np.ndarray, msd_A2: np.ndarray) -> tuple[float, float]:
    """(growth, intercept) in A^2 of a straight line with an intercept fitted to ``msd_A2`` (the total MSD over
    the fit window's times): how much the MSD rises across the window, and where the line starts. A diffusing
    species' MSD rises far above its vibrational plateau; a solid's stays on it (growth ~ 0, intercept = the
    plateau), and the paper's zero-intercept fit still returns D ~ plateau / (2 T) per axis over a run of T:
    cubic Na2S at 800 K, 10 ps of 7net-0 MD, reads D_avg 0.017 A^2/ps from a flat 0.34 A^2."""
    slope, intercept = np.polyfit(times_ps, msd_A2, 1)
    return float(slope * (times_ps[-1] - times_ps[0])), float(intercept)


def diffusion_resolved(growth_A2: float | None, intercept_A2: float | None) -> bool | None:
    """Whether a run resolves the species' diffusion: its MSD rises across the fit window by more than its
    vibrational plateau (``msd_growth``). None when the run predates the measurement."""
    if growth_A2 is None or intercept_A2 is None:
        return None
    return growth_A2 > max(intercept_A2, 0.0)


def fit_window_mask(times_ps: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """The frames inside ``window`` (fractions of the run) where the MSD is fitted."""
    start, end = window
    if not 0 <= start < end <= 1:
        raise InputError(
            f"fit window must be fractions 0 <= start < end <= 1 of the run; got {window}"
        )
    total = times_ps[-1]
    mask = (times_ps >= start * total) & (times_ps <= end * total) & (times_ps > 0)
    if mask.sum() < 2:
        raise InputError(
            f"fit window {window} holds {mask.sum()} time lags; the run is too short for it"
        )
    return mask


class ElementDiffusion(BaseModel):
    """Diffusion of one element: D from the MSD slopes and the tail MSD the melt filter reads."""

    element: str
    n_atoms: int
    D_avg_A2_per_ps: float = Field(description="slope of the total MSD / 6 (n = 3)")
    D_xyz_A2_per_ps: list[float] = Field(description="slope of the MSD along x, y, z / 2 (n = 1)")
    D_max_A2_per_ps: float = Field(description="largest of D_x, D_y, D_z")
    tail_msd_xyz_A2: list[float] = Field(
        description="mean of |r(t) - r(0)|^2 along x, y, z over the last 20 % of the run"
    )
    msd_growth_A2: float | None = Field(
        None,
        description="rise of the total MSD across the fit window (a line with intercept; msd_growth)",
    )
    msd_intercept_A2: float | None = Field(
        None,
        description="that line's intercept: the vibrational plateau of a species that does not diffuse",
    )


def element_diffusion(
    trajectory: MDTrajectory, element: str, window: tuple[float, float] = DEFAULT_FIT_WINDOW
) -> tuple[ElementDiffusion, np.ndarray]:
    """D of one element by the paper's recipe, and its MSD(t) along x, y, z (n_frames, 3)."""
    indices = trajectory.indices(element)
    positions = trajectory.positions[:, indices]
    msd = msd_xyz(positions)
    times = trajectory.times_ps
    mask = fit_window_mask(times, window)
    slopes = [zero_intercept_slope(times[mask], msd[mask, axis]) for axis in range(3)]
    d_xyz = [slope / 2 for slope in slopes]
    tail = slice(int(np.floor((1 - MELT_TAIL_FRACTION) * trajectory.n_frames)), None)
    from_start = ((positions[tail] - positions[0]) ** 2).mean(axis=(0, 1))
    growth, intercept = msd_growth(times[mask], msd[mask].sum(axis=1))
    result = ElementDiffusion(
        element=element,
        n_atoms=len(indices),
        D_avg_A2_per_ps=zero_intercept_slope(times[mask], msd[mask].sum(axis=1)) / 6,
        D_xyz_A2_per_ps=d_xyz,
        D_max_A2_per_ps=max(d_xyz),
        tail_msd_xyz_A2=from_start.tolist(),
        msd_growth_A2=growth,
        msd_intercept_A2=intercept,
    )
    return result, msd


def transport_convergence(
    duration_ps: float | None,
    growth_A2: float | None = None,
    intercept_A2: float | None = None,
) -> tuple[bool | None, str | None]:
    """Whether a run's transport figures (D, D*, D_sigma, H_R) can be read as converged, and why not: a
    production shorter than ``MIN_MELT_FILTER_DURATION_PS`` reads the vibrational MSD plateau through the fit
    (a solid's plateau over 0.45 ps looks like D ~ 0.1 A^2/ps) and decides no melt; a run whose Na MSD does not
    rise above its plateau (``diffusion_resolved``) has D only as an upper bound, whatever its length (the
    mobile species' ``msd_growth``; runs before 0.8 lack it and are judged by length alone). None without MD."""
    if duration_ps is None:
        return None, None
    if duration_ps < MIN_MELT_FILTER_DURATION_PS:
        return False, (
            f"{duration_ps:.3g} ps of production < {MIN_MELT_FILTER_DURATION_PS:g} ps: D, D*, H_R and the melt "
            "verdict are not converged"
        )
    if diffusion_resolved(growth_A2, intercept_A2) is False:
        return False, (
            f"no diffusion resolved in {duration_ps:.3g} ps: the MSD rises {growth_A2:.3g} A^2 across the fit "
            f"window, not above its vibrational plateau ({intercept_A2:.3g} A^2); D, D* and H_R read the "
            "plateau through the fit (upper bounds)"
        )
    return True, None


def is_melted(
    framework: Sequence[ElementDiffusion],
    duration_ps: float | None = None,
    d_threshold: float = MELT_D_THRESHOLD_A2_PER_PS,
    msd_threshold: float = MELT_MSD_THRESHOLD_A2,
) -> tuple[bool | None, str | None]:
    """The paper's filter on the non-mobile elements: melted (or destroyed) when one of them diffuses with
    D >= 1e-2 A^2/ps along all three directions, or its MSD over the last 20 % of the run exceeds 1 A^2 along
    any direction. Returns the verdict and the reason; None (undecided) when only the D criterion could tell and
    the run is shorter than MIN_MELT_FILTER_DURATION_PS.

    The D criterion counts only an element whose diffusion the run resolves (``diffusion_resolved``; runs
    before 0.8 lack the figures and are judged by D alone): the zero-intercept fit reads a vibrational plateau
    <r^2> as D ~ 0.7 <r^2> / T per axis, so in a 10 ps run the rattling PS4 units of cubic Na3PS4 at 800 K
    (P and S levelling at 0.25-0.4 A^2, rising 0.05 A^2 across the fit window) gave P "D = 0.015 A^2/ps"
    and a melted verdict on a crystal; in the paper's 60 ps runs the same plateau stays under the threshold."""
    long_enough = duration_ps is None or duration_ps >= MIN_MELT_FILTER_DURATION_PS
    for result in framework if long_enough else ():
        if diffusion_resolved(result.msd_growth_A2, result.msd_intercept_A2) is False:
            continue
        if all(d >= d_threshold for d in result.D_xyz_A2_per_ps):
            return (
                True,
                f"{result.element} diffuses: D_xyz = {', '.join(f'{d:.3g}' for d in result.D_xyz_A2_per_ps)} A^2/ps",
            )
    for result in framework:
        if max(result.tail_msd_xyz_A2) > msd_threshold:
            return (
                True,
                f"{result.element} moved: tail MSD {max(result.tail_msd_xyz_A2):.3g} A^2 > {msd_threshold}",
            )
    if not long_enough:
        return (
            None,
            f"run of {duration_ps:.3g} ps is too short for the D criterion (needs {MIN_MELT_FILTER_DURATION_PS:g} ps)",
        )
    return False, None


def nernst_einstein_conductivity_mS_per_cm(
    D_A2_per_ps: float, n_ions: int, volume_A3: float, temperature_K: float, charge: int = 1
) -> float:
    """sigma = n (z e)^2 D / (k_B T), with n the carrier number density (tracer D: Haven ratio 1)."""
    density_per_m3 = n_ions / (volume_A3 * 1e-30)
    d_m2_per_s = D_A2_per_ps * 1e-8
    sigma_S_per_m = (
        density_per_m3
        * (charge * ELEMENTARY_CHARGE_C) ** 2
        * d_m2_per_s
        / (BOLTZMANN_J_PER_K * temperature_K)
    )
    return sigma_S_per_m * 10.0  # S/m -> mS/cm


def vdos(velocities: np.ndarray, frame_interval_fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational density of states of the given atoms (velocities (n_frames, n_atoms, 3), A/fs): the Fourier
    transform of the velocity autocorrelation, computed as |FFT v|^2 (Wiener-Khinchin), summed over atoms and
    axes and normalised to unit area. Returns frequencies (THz) and the DOS (1/THz)."""
    v = np.asarray(velocities, dtype=float)
    v = v - v.mean(axis=0)
    window = np.hanning(len(v))[:, None, None]
    power = (np.abs(np.fft.rfft(v * window, axis=0)) ** 2).sum(axis=(1, 2))
    frequencies_thz = np.fft.rfftfreq(len(v), d=frame_interval_fs * 1e-15) / 1e12
    spacing = frequencies_thz[1] - frequencies_thz[0]
    return frequencies_thz, power / (power.sum() * spacing)


def vdos_center_thz(frequencies_thz: np.ndarray, dos: np.ndarray) -> float:
    """First moment of the VDOS (paper eqn 7)."""
    return float(np.sum(frequencies_thz * dos) / np.sum(dos))


class ArrheniusFit(BaseModel):
    """D(T) = D0 exp(-Ea / kT) fitted to a temperature series, with standard errors."""

    activation_energy_eV: float
    activation_energy_err_eV: float
    prefactor_A2_per_ps: float
    prefactor_err_A2_per_ps: float
    temperatures_K: list[float]
    D_A2_per_ps: list[float]


def arrhenius_fit(
    temperatures_K: Sequence[float],
    D_A2_per_ps: Sequence[float],
    D_err_A2_per_ps: Sequence[float] | None = None,
) -> ArrheniusFit:
    """D = D0 exp(-Ea / k_B T): weighted linear fit of ln D against 1/T (weights from the errors of D when given),
    with one-sigma uncertainties from the fit covariance."""
    temperatures = np.asarray(temperatures_K, dtype=float)
    values = np.asarray(D_A2_per_ps, dtype=float)
    if len(temperatures) < 2 or len(temperatures) != len(values):
        raise InputError(
            f"an Arrhenius fit needs >= 2 temperatures with one D each; got {len(temperatures)} and {len(values)}"
        )
    if np.any(values <= 0):
        raise InputError(f"an Arrhenius fit needs positive D; got {values.tolist()}")
    x, y = 1.0 / temperatures, np.log(values)
    if D_err_A2_per_ps is not None:  # errors of ln D = err / D, taken as known: unscaled covariance
        weights = values / np.asarray(D_err_A2_per_ps, dtype=float)
        coefficients, covariance = np.polyfit(x, y, 1, w=weights, cov="unscaled")
    elif len(x) > 3:  # errors estimated from the scatter about the line
        coefficients, covariance = np.polyfit(x, y, 1, cov=True)
    else:  # too few points to estimate an error
        coefficients, covariance = np.polyfit(x, y, 1), np.full((2, 2), np.nan)
    slope, intercept = coefficients
    return ArrheniusFit(
        activation_energy_eV=float(-slope * BOLTZMANN_EV_PER_K),
        activation_energy_err_eV=float(np.sqrt(covariance[0, 0]) * BOLTZMANN_EV_PER_K),
        prefactor_A2_per_ps=float(np.exp(intercept)),
        prefactor_err_A2_per_ps=float(np.exp(intercept) * np.sqrt(covariance[1, 1])),
        temperatures_K=temperatures.tolist(),
        D_A2_per_ps=values.tolist(),
    )
