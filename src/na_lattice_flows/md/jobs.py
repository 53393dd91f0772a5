"""The MD step of the screening flow (paper §2.3-2.4): NVT Langevin MD of the paper supercell with the chosen
MLP at one temperature or a series, the transport analysis of each run, and an Arrhenius fit over the series.
Only dynamically stable structures get MD: ``md_if_stable`` replaces itself with the MD jobs, or records why not.
Trajectories are HDF5 files under ``trajectory_dir`` (the document holds the path); MSD(t) and VDOS curves go to
the JobStore's ``data`` store."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobflow import Flow, Job, JobConfig, Maker, Response, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.checks import check_range
from na_lattice_flows.errors import InputError
from na_lattice_flows.md.batched import run_torchsim_langevin_md
from na_lattice_flows.md.diffusion import arrhenius_fit
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.schemas import MDBatchDocument, MDDocument, TransportSummary
from na_lattice_flows.md.settings import MDSettings, md_settings
from na_lattice_flows.md.trajectory import read_trajectory
from na_lattice_flows.md.transport import TransportAnalysis, analyze_trajectory
from na_lattice_flows.models import (
    TORCHSIM_FAMILIES,
    get_calculator,
    get_torchsim_model,
    model_provenance,
    resolve_model,
)
from na_lattice_flows.routing import GPU, route, worker
from na_lattice_flows.settings import SETTINGS, trajectory_folder
from na_lattice_flows.structure.supercells import DEFAULT_MIN_ATOMS, paper_supercell

MD_ENGINES = ("ase", "torchsim")


def trajectory_file(
    trajectory_dir: str, candidate_id: str, settings: MDSettings, model: str
) -> Path:
    """Deterministic, so that the rerun of a killed job finds its checkpoint."""
    safe_model = model.replace("/", "_").replace(":", "_")
    return (
        Path(trajectory_dir)
        / candidate_id
        / f"md_{settings.temperature_K:g}K_{safe_model}_{settings.fingerprint()}.h5"
    )


def _md_document(
    structure: Structure,
    candidate_id: str,
    model: str,
    engine: str,
    settings: MDSettings,
    supercell_matrix,
    n_atoms: int,
    path: Path,
    use_kinisi: bool,
) -> MDDocument:
    analysis, curves = analyze_trajectory(
        read_trajectory(path), "Na", use_kinisi=use_kinisi, seed=settings.seed
    )
    return MDDocument(
        candidate_id=candidate_id,
        formula=structure.composition.reduced_formula,
        model=model,
        model_provenance=model_provenance(model),
        engine=engine,
        settings=settings,
        supercell_matrix=supercell_matrix,
        n_atoms=n_atoms,
        trajectory_path=str(path.resolve()),
        analysis=analysis,
        curves={key: value.tolist() for key, value in curves.items()},
    )


@job(data=["curves"], output_schema=MDDocument)
@worker(GPU)
def mlp_md(
    structure: Structure,
    candidate_id: str,
    model: str,
    settings: MDSettings,
    trajectory_dir: str,
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS,
    use_kinisi: bool = True,
) -> MDDocument:
    """One structure at one temperature with the ASE engine."""
    supercell = paper_supercell(structure, min_supercell_atoms)
    atoms = AseAtomsAdaptor.get_atoms(structure * supercell.supercell_matrix)
    path = trajectory_file(trajectory_dir, candidate_id, settings, model)
    run_langevin_md(
        atoms,
        get_calculator(model),
        settings,
        path,
        attrs={"model": model, "candidate_id": candidate_id},
    )
    return _md_document(
        structure,
        candidate_id,
        model,
        "ase",
        settings,
        supercell.supercell_matrix,
        len(atoms),
        path,
        use_kinisi,
    )


@job(data=["curves"], output_schema=MDBatchDocument)
@worker(GPU)
def mlp_md_batch(
    structures: list[Structure],
    candidate_ids: list[str],
    model: str,
    settings: list[MDSettings],
    trajectory_dir: str,
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS,
    use_kinisi: bool = True,
) -> MDBatchDocument:
    """Several (structure, temperature) runs advanced together by torch-sim, one model call per step."""
    supercells = [paper_supercell(structure, min_supercell_atoms) for structure in structures]
    systems = [
        AseAtomsAdaptor.get_atoms(s * c.supercell_matrix)
        for s, c in zip(structures, supercells, strict=True)
    ]
    paths = [
        trajectory_file(trajectory_dir, cid, s, model)
        for cid, s in zip(candidate_ids, settings, strict=True)
    ]
    attrs = [{"model": model, "candidate_id": cid} for cid in candidate_ids]
    run_torchsim_langevin_md(systems, get_torchsim_model(model), settings, paths, attrs)
    return MDBatchDocument(
        runs=[
            _md_document(
                structure,
                cid,
                model,
                "torchsim",
                s,
                supercell.supercell_matrix,
                len(atoms),
                path,
                use_kinisi,
            )
            for structure, cid, s, supercell, atoms, path in zip(
                structures, candidate_ids, settings, supercells, systems, paths, strict=True
            )
        ]
    )


@job(output_schema=TransportSummary)
def summarize_transport(
    candidate_id: str,
    analyses: list[TransportAnalysis | dict],
    reference_temperature_K: float,
    trajectory_paths: list[str] | None = None,
) -> TransportSummary:
    """The transport record of one structure: the reference temperature's run, every run, and an
    Arrhenius fit."""
    runs = {
        f"{a.temperature_K:g}": a for a in (TransportAnalysis.model_validate(a) for a in analyses)
    }
    paths = dict(zip(runs, trajectory_paths, strict=True)) if trajectory_paths else {}
    reference_key = (
        f"{reference_temperature_K:g}"
        if f"{reference_temperature_K:g}" in runs
        else max(runs, key=float)
    )
    reference = runs[reference_key]
    usable = {
        float(t): a.D_avg_A2_per_ps
        for t, a in runs.items()
        if a.melted is not True and a.D_avg_A2_per_ps > 0
    }
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
        reference_trajectory_path=paths.get(reference_key),
        runs=runs,
        arrhenius=arrhenius_fit(list(usable), list(usable.values())) if len(usable) >= 2 else None,
    )


@dataclass
class MLPMDMaker(Maker):
    """NVT Langevin MD with an MLP on the paper supercell at each of ``temperatures_K`` and the transport
    analysis; ``preset`` 'paper' (800 K, 1.5 fs, 10 000 + 40 000 steps, a frame every 4) or 'short', with any
    field of MDSettings overridden through ``overrides``.

    ``engine`` 'ase' runs one job per (structure, temperature); 'torchsim' batches up to ``batch_size`` of those
    runs into one job that advances them together (one structure's temperature series in ``make``; many
    structures with ``make_many``), the way to fill a GPU."""

    name: str = "mlp md"
    model: str = SETTINGS.default_model
    preset: str = "paper"
    temperatures_K: list[float] = field(default_factory=lambda: [SETTINGS.temperature_K])
    reference_temperature_K: float = SETTINGS.temperature_K
    overrides: dict = field(default_factory=dict)
    engine: str = "ase"
    batch_size: int = 16
    trajectory_dir: str | None = (
        None  # default: settings.trajectory_folder(), resolved at submission
    )
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    use_kinisi: bool = True

    def __post_init__(self) -> None:
        spec = resolve_model(self.model)
        self.model = spec.name
        self.overrides = {key: value for key, value in self.overrides.items() if value is not None}
        if self.engine not in MD_ENGINES:
            raise InputError(
                f"unknown MD engine {self.engine!r}; choose from {', '.join(MD_ENGINES)}"
            )
        if self.engine == "torchsim" and spec.family not in TORCHSIM_FAMILIES:
            raise InputError(
                f"the torchsim MD engine has no wrapper for {self.model!r} ({spec.family}); use a model of the "
                f"{' or '.join(TORCHSIM_FAMILIES)} families, or engine='ase'"
            )
        check_range("batch_size", self.batch_size, at_least=1)
        check_range("min_supercell_atoms", self.min_supercell_atoms, at_least=1)
        if not self.temperatures_K:
            raise InputError("temperatures_K: give at least one MD temperature")
        for temperature in (*self.temperatures_K, self.reference_temperature_K):
            check_range("temperatures_K", temperature, above=0, unit="K")
        # a bad preset or field fails at submission, not on the worker
        md_settings(self.preset, **self.overrides)
        self.trajectory_dir = str(trajectory_folder(self.trajectory_dir))

    def make(self, structure: Structure, candidate_id: str) -> Flow:
        """The MD of one structure at every temperature; the flow's output is its transport summary."""
        flow = self.make_many([structure], [candidate_id])
        flow.output = flow.output[candidate_id]
        return flow

    def make_many(self, structures: list[Structure], candidate_ids: list[str]) -> Flow:
        """The MD of every structure at every temperature and one transport summary per structure; the flow's
        output maps candidate_id -> summary."""
        runs = [
            (
                structure,
                cid,
                md_settings(self.preset, **{**self.overrides, "temperature_K": temperature}),
            )
            for structure, cid in zip(structures, candidate_ids, strict=True)
            for temperature in self.temperatures_K
        ]
        jobs, analyses, trajectories = (
            [],
            {cid: [] for cid in candidate_ids},
            {cid: [] for cid in candidate_ids},
        )
        if self.engine == "ase":
            for structure, cid, settings in runs:
                run = mlp_md(
                    structure,
                    cid,
                    self.model,
                    settings,
                    self.trajectory_dir,
                    self.min_supercell_atoms,
                    self.use_kinisi,
                )
                run.name = f"{self.name} {cid} {settings.temperature_K:g}K"
                jobs.append(run)
                analyses[cid].append(run.output.analysis)
                trajectories[cid].append(run.output.trajectory_path)
        else:
            for start in range(0, len(runs), self.batch_size):
                chunk = runs[start : start + self.batch_size]
                batch = mlp_md_batch(
                    [r[0] for r in chunk],
                    [r[1] for r in chunk],
                    self.model,
                    [r[2] for r in chunk],
                    self.trajectory_dir,
                    self.min_supercell_atoms,
                    self.use_kinisi,
                )
                batch.name = f"{self.name} batch {start // self.batch_size} ({len(chunk)} runs)"
                jobs.append(batch)
                for index, (_, cid, _) in enumerate(chunk):
                    analyses[cid].append(batch.output.runs[index].analysis)
                    trajectories[cid].append(batch.output.runs[index].trajectory_path)
        summaries = {}
        for cid in candidate_ids:
            summary = summarize_transport(
                cid, analyses[cid], self.reference_temperature_K, trajectories[cid]
            )
            summary.name = f"transport summary {cid}"
            jobs.append(summary)
            summaries[cid] = summary.output
        name = (
            f"{self.name} {candidate_ids[0]}"
            if len(candidate_ids) == 1
            else f"{self.name} {len(candidate_ids)} structures"
        )
        return Flow(jobs, output=summaries, name=name)


@job(config=JobConfig(pass_manager_config=False))
def md_if_stable(
    stability: dict | None, structure: Structure, candidate_id: str, maker: MLPMDMaker
) -> Response | TransportSummary:
    """Unstable structures leave the MD queue here: a stable one is replaced by its MD flow, an unstable one
    records the minimum frequency that excluded it. ``stability=None`` (no phonon step) runs MD."""
    stability = dict(stability) if stability is not None else {"dynamically_stable": True}
    if not stability.get("dynamically_stable"):
        where = stability.get("min_frequency_qpoint")
        reason = (
            f"dynamically unstable: min frequency {stability.get('min_frequency_thz', float('nan')):.3f} THz"
            + (f" at q = {where}" if where else "")
        )
        reason += f" ({stability['reason']})" if stability.get("reason") else ""
        return TransportSummary(candidate_id=candidate_id, skipped_reason=reason)
    # MD on GPU workers, not the gate's category
    return Response(replace=route(maker.make(structure, candidate_id)))


def md_gate(maker: MLPMDMaker, stability, structure: Structure, candidate_id: str) -> Job:
    """The gate job of one candidate: MD when its phonons say stable."""
    gate = md_if_stable(stability, structure, candidate_id, maker)
    gate.name = f"md gate {candidate_id}"
    return gate
