"""Ion-transport analysis of any MD trajectory (MLP, AIMD, VASP): per-element MSD(t) along x, y, z, diffusion
coefficients by the paper's zero-intercept fit, the melted-structure filter, the Na vibrational DOS from the
velocity autocorrelation, Nernst-Einstein conductivity, Arrhenius fits, and kinisi's D with its uncertainty,
jump (charge) diffusion coefficient and Haven ratio.

Units: positions in A, times in ps (frame spacing given in fs where MD codes state it), D in A^2/ps
(1 A^2/ps = 1e-4 cm^2/s), frequencies in THz, conductivity in mS/cm.

The MSD, fit and VDOS are written here rather than taken from pymatgen-analysis-diffusion or kinisi because the
paper's definitions differ from both: per direction D = slope/2 with a zero-intercept fit on an all-origins MSD
(pymatgen fits with an intercept, kinisi samples a Bayesian posterior), and the melted filter needs the MSD of
the framework elements. Tests check these functions against both libraries on the same trajectory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, Field

BOLTZMANN_EV_PER_K = 8.617333262e-5
ELEMENTARY_CHARGE_C = 1.602176634e-19
BOLTZMANN_J_PER_K = 1.380649e-23
DEFAULT_FIT_WINDOW = (0.1, 0.5)  # fraction of the run: skip the ballistic start, stop before few time origins remain
MELT_D_THRESHOLD_A2_PER_PS = 1e-2
MELT_MSD_THRESHOLD_A2 = 1.0
MELT_TAIL_FRACTION = 0.2
# A solid's vibrational MSD plateau (~0.05 A^2 per axis at 800 K) read through the zero-intercept fit looks like
# D ~ plateau / (0.7 T) per axis for a run of length T; below ~10 ps that exceeds the 1e-2 A^2/ps melt threshold
# for any solid, so the D criterion is applied only to runs at least this long (the paper's runs are 60 ps).
MIN_MELT_FILTER_DURATION_PS = 10.0


@dataclass
class MDTrajectory:
    """Frames of one MD run: unwrapped Cartesian positions (A), the cell, and velocities (A/fs) when the engine
    wrote them. ``frame_interval_fs`` is the MD time step times the number of steps between stored frames."""

    species: list[str]
    positions: np.ndarray  # (n_frames, n_atoms, 3), unwrapped
    cell: np.ndarray  # (3, 3) or (n_frames, 3, 3) for NPT
    frame_interval_fs: float
    velocities: np.ndarray | None = None  # (n_frames, n_atoms, 3), A/fs
    temperature_K: float | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=float)
        self.cell = np.asarray(self.cell, dtype=float)
        if self.positions.ndim != 3 or self.positions.shape[1] != len(self.species) or self.positions.shape[2] != 3:
            raise ValueError(f"positions must be (n_frames, {len(self.species)}, 3); got {self.positions.shape}")
        if len(self.positions) < 3:
            raise ValueError(f"a trajectory needs at least 3 frames for a diffusion fit; got {len(self.positions)}")
        if not self.frame_interval_fs > 0:
            raise ValueError(f"frame interval must be positive; got {self.frame_interval_fs} fs")
        if self.velocities is not None and np.shape(self.velocities) != self.positions.shape:
            raise ValueError(f"velocities {np.shape(self.velocities)} do not match positions {self.positions.shape}")

    @property
    def n_frames(self) -> int:
        return len(self.positions)

    @property
    def times_ps(self) -> np.ndarray:
        return np.arange(self.n_frames) * self.frame_interval_fs / 1000.0

    @property
    def mean_cell(self) -> np.ndarray:
        return self.cell if self.cell.ndim == 2 else self.cell.mean(axis=0)

    def indices(self, element: str) -> np.ndarray:
        found = np.flatnonzero(np.asarray(self.species) == element)
        if not len(found):
            raise ValueError(f"no {element} in this trajectory (elements: {', '.join(sorted(set(self.species)))})")
        return found


def unwrap_fractional(fractional: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Cartesian unwrapped positions from wrapped fractional ones: between consecutive frames every atom takes the
    shortest image (valid when no atom moves half a cell between frames). Idempotent on unwrapped input."""
    fractional = np.asarray(fractional, dtype=float)
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (len(fractional), 3, 3))
    steps = np.diff(fractional, axis=0)
    steps -= np.rint(steps)
    cartesian_steps = np.einsum("fij,fjk->fik", steps, cells[1:])
    start = fractional[0] @ cells[0]
    return np.concatenate([start[None], start[None] + np.cumsum(cartesian_steps, axis=0)])


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
    cross = np.fft.irfft(spectrum * spectrum.conj(), axis=0)[:n]  # sum over origins of x(t0) x(t0+lag)
    counts = (n - np.arange(n))[:, None, None]
    per_atom = (sum_squares - 2 * cross) / counts
    return per_atom.mean(axis=1)


def zero_intercept_slope(times: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of values = slope * times (no intercept), the paper's fit."""
    return float(np.dot(times, values) / np.dot(times, times))


def fit_window_mask(times_ps: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    start, end = window
    if not 0 <= start < end <= 1:
        raise ValueError(f"fit window must be fractions 0 <= start < end <= 1 of the run; got {window}")
    total = times_ps[-1]
    mask = (times_ps >= start * total) & (times_ps <= end * total) & (times_ps > 0)
    if mask.sum() < 2:
        raise ValueError(f"fit window {window} holds {mask.sum()} time lags; the run is too short for it")
    return mask


class ElementDiffusion(BaseModel):
    element: str
    n_atoms: int
    D_avg_A2_per_ps: float = Field(description="slope of the total MSD / 6 (n = 3)")
    D_xyz_A2_per_ps: list[float] = Field(description="slope of the MSD along x, y, z / 2 (n = 1)")
    D_max_A2_per_ps: float = Field(description="largest of D_x, D_y, D_z")
    tail_msd_xyz_A2: list[float] = Field(description="mean of |r(t) - r(0)|^2 along x, y, z over the last 20 % of the run")


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
    result = ElementDiffusion(
        element=element,
        n_atoms=len(indices),
        D_avg_A2_per_ps=zero_intercept_slope(times[mask], msd[mask].sum(axis=1)) / 6,
        D_xyz_A2_per_ps=d_xyz,
        D_max_A2_per_ps=max(d_xyz),
        tail_msd_xyz_A2=from_start.tolist(),
    )
    return result, msd


def is_melted(
    framework: Sequence[ElementDiffusion],
    duration_ps: float | None = None,
    d_threshold: float = MELT_D_THRESHOLD_A2_PER_PS,
    msd_threshold: float = MELT_MSD_THRESHOLD_A2,
) -> tuple[bool | None, str | None]:
    """The paper's filter on the non-mobile elements: melted (or destroyed) when one of them diffuses with
    D >= 1e-2 A^2/ps along all three directions, or its MSD over the last 20 % of the run exceeds 1 A^2 along
    any direction. Returns the verdict and the reason; None (undecided) when only the D criterion could tell and
    the run is shorter than MIN_MELT_FILTER_DURATION_PS."""
    long_enough = duration_ps is None or duration_ps >= MIN_MELT_FILTER_DURATION_PS
    for result in framework if long_enough else ():
        if all(d >= d_threshold for d in result.D_xyz_A2_per_ps):
            return True, f"{result.element} diffuses: D_xyz = {', '.join(f'{d:.3g}' for d in result.D_xyz_A2_per_ps)} A^2/ps"
    for result in framework:
        if max(result.tail_msd_xyz_A2) > msd_threshold:
            return True, f"{result.element} moved: tail MSD {max(result.tail_msd_xyz_A2):.3g} A^2 > {msd_threshold}"
    if not long_enough:
        return None, f"run of {duration_ps:.3g} ps is too short for the D criterion (needs {MIN_MELT_FILTER_DURATION_PS:g} ps)"
    return False, None


def nernst_einstein_conductivity_mS_per_cm(
    D_A2_per_ps: float, n_ions: int, volume_A3: float, temperature_K: float, charge: int = 1
) -> float:
    """sigma = n (z e)^2 D / (k_B T), with n the carrier number density (tracer D: Haven ratio 1)."""
    density_per_m3 = n_ions / (volume_A3 * 1e-30)
    d_m2_per_s = D_A2_per_ps * 1e-8
    sigma_S_per_m = density_per_m3 * (charge * ELEMENTARY_CHARGE_C) ** 2 * d_m2_per_s / (BOLTZMANN_J_PER_K * temperature_K)
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
    activation_energy_eV: float
    activation_energy_err_eV: float
    prefactor_A2_per_ps: float
    prefactor_err_A2_per_ps: float
    temperatures_K: list[float]
    D_A2_per_ps: list[float]


def arrhenius_fit(
    temperatures_K: Sequence[float], D_A2_per_ps: Sequence[float], D_err_A2_per_ps: Sequence[float] | None = None
) -> ArrheniusFit:
    """D = D0 exp(-Ea / k_B T): weighted linear fit of ln D against 1/T (weights from the errors of D when given),
    with one-sigma uncertainties from the fit covariance."""
    temperatures = np.asarray(temperatures_K, dtype=float)
    values = np.asarray(D_A2_per_ps, dtype=float)
    if len(temperatures) < 2 or len(temperatures) != len(values):
        raise ValueError(f"an Arrhenius fit needs >= 2 temperatures with one D each; got {len(temperatures)} and {len(values)}")
    if np.any(values <= 0):
        raise ValueError(f"an Arrhenius fit needs positive D; got {values.tolist()}")
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


class KinisiResult(BaseModel):
    """kinisi's Bayesian estimates (median and 95 % credible interval)."""

    D_A2_per_ps: float
    D_interval_A2_per_ps: tuple[float, float]
    D_jump_A2_per_ps: float | None = Field(None, description="collective (charge) diffusion coefficient D_sigma")
    D_jump_interval_A2_per_ps: tuple[float, float] | None = None
    haven_ratio: float | None = Field(None, description="D* / D_sigma")
    fit_start_ps: float


def kinisi_diffusion(
    trajectory: MDTrajectory,
    element: str = "Na",
    fit_start_fraction: float = DEFAULT_FIT_WINDOW[0],
    jump: bool = True,
    n_samples: int = 1000,
    seed: int = 0,
) -> KinisiResult:
    """Tracer D (kinisi's DiffusionAnalyzer) and, with ``jump``, the jump/charge diffusion coefficient and Haven
    ratio (JumpDiffusionAnalyzer), fitted from ``fit_start_fraction`` of the run. kinisi removes the framework's
    centre-of-mass drift itself."""
    import scipp as sc
    from ase import Atoms
    from kinisi.analyze import DiffusionAnalyzer, JumpDiffusionAnalyzer

    cells = np.broadcast_to(trajectory.cell, (trajectory.n_frames, 3, 3))
    frames = [
        Atoms(symbols=trajectory.species, positions=positions, cell=cell, pbc=True)
        for positions, cell in zip(trajectory.positions, cells, strict=True)
    ]
    common = {
        "specie": element,
        "time_step": sc.scalar(trajectory.frame_interval_fs / 1000.0, unit="ps"),
        "step_skip": sc.scalar(1, unit=sc.units.dimensionless),
        "progress": False,
    }
    start = sc.scalar(fit_start_fraction * trajectory.times_ps[-1], unit="ps")
    sampling = {"n_samples": n_samples, "progress": False, "random_state": np.random.RandomState(seed)}

    def summary(samples) -> tuple[float, tuple[float, float]]:
        values = np.asarray(samples.values) * _to_A2_per_ps(samples.unit)
        low, median, high = np.percentile(values, [2.5, 50, 97.5])
        return float(median), (float(low), float(high))

    tracer = DiffusionAnalyzer.from_ase(frames, **common)
    tracer.diffusion(start, fit_intercept=True, **sampling)
    d_star, d_interval = summary(tracer.D)
    result = KinisiResult(D_A2_per_ps=d_star, D_interval_A2_per_ps=d_interval, fit_start_ps=float(start.value))
    if jump:
        collective = JumpDiffusionAnalyzer.from_ase(frames, **common)
        collective.jump_diffusion(start, fit_intercept=True, **sampling)
        d_jump, jump_interval = summary(collective.D_J)
        result.D_jump_A2_per_ps, result.D_jump_interval_A2_per_ps = d_jump, jump_interval
        result.haven_ratio = d_star / d_jump if d_jump > 0 else None
    return result


def _to_A2_per_ps(unit) -> float:
    import scipp as sc

    return float(sc.scalar(1.0, unit=unit).to(unit="angstrom**2/ps").value)



class TransportAnalysis(BaseModel):
    """Everything the paper reads off one MD run, for the mobile species and the framework."""

    species: str
    temperature_K: float | None
    n_frames: int
    duration_ps: float
    fit_window: tuple[float, float]
    elements: dict[str, ElementDiffusion]
    D_avg_A2_per_ps: float
    D_max_A2_per_ps: float
    D_xyz_A2_per_ps: list[float]
    melted: bool | None = Field(description="None: the run is too short to tell (see melted_reason)")
    melted_reason: str | None = None
    conductivity_mS_per_cm: float | None = Field(None, description="Nernst-Einstein from D_avg (Haven ratio 1)")
    na_vdos_center_thz: float | None = Field(None, description="first moment of the mobile species' VDOS")
    kinisi: KinisiResult | None = None


def analyze_trajectory(
    trajectory: MDTrajectory,
    species: str = "Na",
    window: tuple[float, float] = DEFAULT_FIT_WINDOW,
    use_kinisi: bool = True,
    seed: int = 0,
) -> tuple[TransportAnalysis, dict[str, np.ndarray]]:
    """The transport analysis of one trajectory, and the curves behind it (time, MSD(t) per element and axis,
    VDOS) for the data store and figures."""
    elements, curves = {}, {"times_ps": trajectory.times_ps}
    for element in dict.fromkeys(trajectory.species):
        elements[element], curves[f"msd_xyz_{element}"] = element_diffusion(trajectory, element, window)
    trajectory.indices(species)  # a clear error when the species is absent
    mobile = elements[species]
    melted, reason = is_melted([result for name, result in elements.items() if name != species], float(trajectory.times_ps[-1]))
    temperature = trajectory.temperature_K if trajectory.temperature_K and np.isfinite(trajectory.temperature_K) else None
    center = None
    if trajectory.velocities is not None:
        curves["vdos_freq_thz"], curves[f"vdos_{species}"] = vdos(trajectory.velocities[:, trajectory.indices(species)], trajectory.frame_interval_fs)
        center = vdos_center_thz(curves["vdos_freq_thz"], curves[f"vdos_{species}"])
    volume = float(abs(np.linalg.det(trajectory.mean_cell)))
    return TransportAnalysis(
        species=species,
        temperature_K=temperature,
        n_frames=trajectory.n_frames,
        duration_ps=float(trajectory.times_ps[-1]),
        fit_window=window,
        elements=elements,
        D_avg_A2_per_ps=mobile.D_avg_A2_per_ps,
        D_max_A2_per_ps=mobile.D_max_A2_per_ps,
        D_xyz_A2_per_ps=mobile.D_xyz_A2_per_ps,
        melted=melted,
        melted_reason=reason,
        conductivity_mS_per_cm=None if temperature is None else nernst_einstein_conductivity_mS_per_cm(
            max(mobile.D_avg_A2_per_ps, 0.0), mobile.n_atoms, volume, temperature
        ),
        na_vdos_center_thz=center,
        kinisi=kinisi_diffusion(trajectory, species, window[0], seed=seed) if use_kinisi else None,
    ), curves


def probability_density_chgcar(trajectory: MDTrajectory, path: str, species: str = "Na", grid_A: float = 0.3, max_frames: int = 2000) -> str:
    """The mobile species' time-averaged probability density on a grid (pymatgen-analysis-diffusion), written as
    a CHGCAR that VESTA or OVITO shows as conduction channels. At most ``max_frames`` evenly spaced frames."""
    from pymatgen.analysis.diffusion.aimd.pathway import ProbabilityDensityAnalysis
    from pymatgen.core import Lattice, Structure

    lattice = Lattice(trajectory.mean_cell)
    frames = trajectory.positions[:: max(1, trajectory.n_frames // max_frames)]
    fractional = frames @ np.linalg.inv(lattice.matrix)
    structure = Structure(lattice, trajectory.species, fractional[0])
    ProbabilityDensityAnalysis(structure, fractional, interval=grid_A, species=(species,)).to_chgcar(path)
    return path
