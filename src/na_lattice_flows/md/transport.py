"""The transport analysis of one MD trajectory, as the screening stores it: the diffusion results of every
element (``diffusion``), the melt filter, the Nernst-Einstein conductivity, the mobile species' VDOS centre, and
kinisi's Bayesian tracer D with its 95 % credible interval, jump (charge) diffusion coefficient D_sigma and Haven
ratio H_R = D*/D_sigma; and the species' probability density (pymatgen-analysis-diffusion)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from na_lattice_flows.md.diffusion import (
    DEFAULT_FIT_WINDOW,
    ElementDiffusion,
    element_diffusion,
    is_melted,
    nernst_einstein_conductivity_mS_per_cm,
    vdos,
    vdos_center_thz,
)
from na_lattice_flows.md.trajectory import MDTrajectory


class KinisiResult(BaseModel):
    """kinisi's Bayesian estimates (median and 95 % credible interval)."""

    D_A2_per_ps: float
    D_interval_A2_per_ps: tuple[float, float]
    D_jump_A2_per_ps: float | None = Field(
        None, description="collective (charge) diffusion coefficient D_sigma"
    )
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
    sampling = {
        "n_samples": n_samples,
        "progress": False,
        "random_state": np.random.RandomState(seed),
    }

    def summary(samples) -> tuple[float, tuple[float, float]]:
        values = np.asarray(samples.values) * _to_A2_per_ps(samples.unit)
        low, median, high = np.percentile(values, [2.5, 50, 97.5])
        return float(median), (float(low), float(high))

    tracer = DiffusionAnalyzer.from_ase(frames, **common)
    tracer.diffusion(start, fit_intercept=True, **sampling)
    d_star, d_interval = summary(tracer.D)
    result = KinisiResult(
        D_A2_per_ps=d_star, D_interval_A2_per_ps=d_interval, fit_start_ps=float(start.value)
    )
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
    melted: bool | None = Field(
        description="None: the run is too short to tell (see melted_reason)"
    )
    melted_reason: str | None = None
    conductivity_mS_per_cm: float | None = Field(
        None, description="Nernst-Einstein from D_avg (Haven ratio 1)"
    )
    na_vdos_center_thz: float | None = Field(
        None, description="first moment of the mobile species' VDOS"
    )
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
        elements[element], curves[f"msd_xyz_{element}"] = element_diffusion(
            trajectory, element, window
        )
    trajectory.indices(species)  # a clear error when the species is absent
    mobile = elements[species]
    melted, reason = is_melted(
        [result for name, result in elements.items() if name != species],
        float(trajectory.times_ps[-1]),
    )
    temperature = (
        trajectory.temperature_K
        if trajectory.temperature_K and np.isfinite(trajectory.temperature_K)
        else None
    )
    center = None
    if trajectory.velocities is not None:
        curves["vdos_freq_thz"], curves[f"vdos_{species}"] = vdos(
            trajectory.velocities[:, trajectory.indices(species)], trajectory.frame_interval_fs
        )
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
        conductivity_mS_per_cm=None
        if temperature is None
        else nernst_einstein_conductivity_mS_per_cm(
            max(mobile.D_avg_A2_per_ps, 0.0), mobile.n_atoms, volume, temperature
        ),
        na_vdos_center_thz=center,
        kinisi=kinisi_diffusion(trajectory, species, window[0], seed=seed) if use_kinisi else None,
    ), curves


def probability_density_chgcar(
    trajectory: MDTrajectory,
    path: str,
    species: str = "Na",
    grid_A: float = 0.3,
    max_frames: int = 2000,
) -> str:
    """The mobile species' time-averaged probability density on a grid (pymatgen-analysis-diffusion), written as
    a CHGCAR that VESTA or OVITO shows as conduction channels. At most ``max_frames`` evenly spaced frames."""
    from pymatgen.analysis.diffusion.aimd.pathway import ProbabilityDensityAnalysis
    from pymatgen.core import Lattice, Structure

    lattice = Lattice(trajectory.mean_cell)
    frames = trajectory.positions[:: max(1, trajectory.n_frames // max_frames)]
    fractional = frames @ np.linalg.inv(lattice.matrix)
    structure = Structure(lattice, trajectory.species, fractional[0])
    ProbabilityDensityAnalysis(
        structure, fractional, interval=grid_A, species=(species,)
    ).to_chgcar(path)
    return path
