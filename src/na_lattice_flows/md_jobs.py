"""The MD step of the screening flow (paper §2.3-2.4): NVT Langevin MD of the paper supercell with the chosen
MLP at one temperature or a series, the transport analysis of each run, and an Arrhenius fit over the series.
Only dynamically stable structures get MD: ``md_if_stable`` replaces itself with the MD jobs, or records why not.
Trajectories are HDF5 files under ``trajectory_dir`` (the document holds the path); MSD(t) and VDOS curves go to
the JobStore's ``data`` store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobflow import Flow, Job, Maker, Response, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.md import MDSettings, md_settings, run_langevin_md
from na_lattice_flows.models import get_calculator, resolve_model
from na_lattice_flows.supercells import DEFAULT_MIN_ATOMS, paper_supercell
from na_lattice_flows.trajectory_io import read_trajectory
from na_lattice_flows.transport import ArrheniusFit, TransportAnalysis, analyze_trajectory, arrhenius_fit

MD_ENGINES = ("ase",)


class MDDocument(BaseModel):
    candidate_id: str
    formula: str
    model: str
    engine: str
    settings: MDSettings
    supercell_matrix: list[list[int]]
    n_atoms: int
    trajectory_path: str = Field(description="HDF5 trajectory: unwrapped positions, velocities (float32)")
    analysis: TransportAnalysis
    curves: dict = Field(description="times, MSD(t) per element and axis, VDOS (data store)")


class TransportSummary(BaseModel):
    """One structure's MD outcome: the run at the reference temperature, the whole series, the Arrhenius fit."""

    candidate_id: str
    skipped_reason: str | None = Field(None, description="why no MD ran (e.g. dynamically unstable)")
    reference_temperature_K: float | None = None
    D_avg_A2_per_ps: float | None = None
    D_max_A2_per_ps: float | None = None
    melted: bool | None = None
    na_vdos_center_thz: float | None = None
    conductivity_mS_per_cm: float | None = None
    D_kinisi_A2_per_ps: float | None = None
    haven_ratio: float | None = None
    runs: dict[str, TransportAnalysis] = Field(default_factory=dict, description="temperature (K) -> analysis")
    arrhenius: ArrheniusFit | None = None


def trajectory_file(trajectory_dir: str, candidate_id: str, settings: MDSettings, model: str) -> Path:
    """Deterministic, so that the rerun of a killed job finds its checkpoint."""
    safe_model = model.replace("/", "_").replace(":", "_")
    return Path(trajectory_dir) / candidate_id / f"md_{settings.temperature_K:g}K_{safe_model}_{settings.fingerprint()}.h5"


@job(data=["curves"], output_schema=MDDocument)
def mlp_md(
    structure: Structure,
    candidate_id: str,
    model: str,
    settings: MDSettings,
    trajectory_dir: str,
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS,
    use_kinisi: bool = True,
) -> MDDocument:
    supercell = paper_supercell(structure, min_supercell_atoms)
    atoms = AseAtomsAdaptor.get_atoms(structure * supercell.supercell_matrix)
    path = trajectory_file(trajectory_dir, candidate_id, settings, model)
    run_langevin_md(atoms, get_calculator(model), settings, path, attrs={"model": model, "candidate_id": candidate_id})
    analysis, curves = analyze_trajectory(read_trajectory(path), "Na", use_kinisi=use_kinisi, seed=settings.seed)
    return MDDocument(
        candidate_id=candidate_id,
        formula=structure.composition.reduced_formula,
        model=model,
        engine="ase",
        settings=settings,
        supercell_matrix=supercell.supercell_matrix,
        n_atoms=len(atoms),
        trajectory_path=str(path.resolve()),
        analysis=analysis,
        curves={key: value.tolist() for key, value in curves.items()},
    )


@job(output_schema=TransportSummary)
def summarize_transport(candidate_id: str, analyses: list[TransportAnalysis | dict], reference_temperature_K: float) -> TransportSummary:
    runs = {f"{a.temperature_K:g}": a for a in (TransportAnalysis.model_validate(a) for a in analyses)}
    reference = runs.get(f"{reference_temperature_K:g}") or runs[max(runs, key=float)]
    usable = {float(t): a.D_avg_A2_per_ps for t, a in runs.items() if a.melted is not True and a.D_avg_A2_per_ps > 0}
    return TransportSummary(
        candidate_id=candidate_id,
        reference_temperature_K=reference.temperature_K,
        D_avg_A2_per_ps=reference.D_avg_A2_per_ps,
        D_max_A2_per_ps=reference.D_max_A2_per_ps,
        melted=reference.melted,
        na_vdos_center_thz=reference.na_vdos_center_thz,
        conductivity_mS_per_cm=reference.conductivity_mS_per_cm,
        D_kinisi_A2_per_ps=reference.kinisi.D_A2_per_ps if reference.kinisi else None,
        haven_ratio=reference.kinisi.haven_ratio if reference.kinisi else None,
        runs=runs,
        arrhenius=arrhenius_fit(list(usable), list(usable.values())) if len(usable) >= 2 else None,
    )


@dataclass
class MLPMDMaker(Maker):
    """NVT Langevin MD with an MLP on the paper supercell at each of ``temperatures_K`` and the transport
    analysis; ``preset`` 'paper' (800 K, 1.5 fs, 10 000 + 40 000 steps, a frame every 4) or 'short', with any
    field of MDSettings overridden through ``overrides``."""

    name: str = "mlp md"
    model: str = "chgnet"
    preset: str = "paper"
    temperatures_K: list[float] = field(default_factory=lambda: [800.0])
    reference_temperature_K: float = 800.0
    overrides: dict = field(default_factory=dict)
    engine: str = "ase"
    trajectory_dir: str = "na_flows_trajectories"
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    use_kinisi: bool = True

    def __post_init__(self) -> None:
        self.model = resolve_model(self.model).name
        self.overrides = {key: value for key, value in self.overrides.items() if value is not None}
        if self.engine not in MD_ENGINES:
            raise ValueError(f"unknown MD engine {self.engine!r}; choose from {', '.join(MD_ENGINES)}")
        md_settings(self.preset, **self.overrides)  # a bad preset or field fails at submission, not on the worker
        self.trajectory_dir = str(Path(self.trajectory_dir).resolve())

    def make(self, structure: Structure, candidate_id: str) -> Flow:
        runs = []
        for temperature in self.temperatures_K:
            settings = md_settings(self.preset, **{**self.overrides, "temperature_K": temperature})
            run = mlp_md(structure, candidate_id, self.model, settings, self.trajectory_dir, self.min_supercell_atoms, self.use_kinisi)
            run.name = f"{self.name} {candidate_id} {temperature:g}K"
            runs.append(run)
        summary = summarize_transport(candidate_id, [run.output.analysis for run in runs], self.reference_temperature_K)
        summary.name = f"transport summary {candidate_id}"
        return Flow([*runs, summary], output=summary.output, name=f"{self.name} {candidate_id}")


@job
def md_if_stable(stability: dict | None, structure: Structure, candidate_id: str, maker: MLPMDMaker) -> Response | TransportSummary:
    """Unstable structures leave the MD queue here: a stable one is replaced by its MD flow, an unstable one
    records the minimum frequency that excluded it. ``stability=None`` (no phonon step) runs MD."""
    stability = dict(stability) if stability is not None else {"dynamically_stable": True}
    if not stability.get("dynamically_stable"):
        where = stability.get("min_frequency_qpoint")
        reason = f"dynamically unstable: min frequency {stability.get('min_frequency_thz', float('nan')):.3f} THz" + (f" at q = {where}" if where else "")
        return TransportSummary(candidate_id=candidate_id, skipped_reason=reason)
    return Response(replace=maker.make(structure, candidate_id))


def md_gate(maker: MLPMDMaker, stability, structure: Structure, candidate_id: str) -> Job:
    gate = md_if_stable(stability, structure, candidate_id, maker)
    gate.name = f"md gate {candidate_id}"
    return gate
