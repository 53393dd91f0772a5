"""The doped study's jobs: the doped cell (SQS), one NPT point, a system's transition (the fine grid, both
starts, in one job a GPU worker runs), one transport run at an NPT mean cell, a system's summary and the study's
tables. Trajectories are HDF5 files under ``<trajectory_dir>/doping/<study_id>/<system>/``, named by their
settings, so that a rerun of a killed job resumes from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms
from jobflow import job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.doping.analysis import axial_diffusion
from na_lattice_flows.doping.cells import DopedCell, doped_supercell
from na_lattice_flows.doping.dihedrals import dihedral_analysis
from na_lattice_flows.doping.phases import (
    FinePoint,
    classify_phase,
    coarse_bracket,
    fine_grid,
    lattice_parameters,
    transition_temperature,
)
from na_lattice_flows.doping.presets import DopingStudySettings
from na_lattice_flows.doping.schemas import (
    DopedStudyDocument,
    DopedTransportDocument,
    NPTDocument,
    SystemSummary,
    TransitionDocument,
)
from na_lattice_flows.md.batched_npt import run_torchsim_npt_md
from na_lattice_flows.md.diffusion import arrhenius_fit
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.npt import run_npt_md
from na_lattice_flows.md.trajectory import read_trajectory
from na_lattice_flows.md.transport import analyze_trajectory
from na_lattice_flows.models import get_calculator, get_torchsim_model, model_provenance
from na_lattice_flows.routing import GPU, worker


def _folder(trajectory_dir: str, study_id: str, system: str) -> Path:
    return Path(trajectory_dir) / "doping" / study_id / system.replace("/", "_")


@job(output_schema=DopedCell)
def make_doped_cell(
    structure: Structure,
    dopant: str,
    host_site: str,
    fraction: float,
    vacancy_mode: str,
    settings: DopingStudySettings,
) -> DopedCell:
    """The doped supercell of one system (SQS of the dopant, vacancies placed), as a job."""
    return doped_supercell(
        structure,
        dopant,
        host_site,
        fraction,
        settings.supercell,
        settings.seed,
        vacancy_mode,
        settings.sqs_cutoffs_A,
    )


def _npt_settings(settings: DopingStudySettings, temperature_K: float):
    return settings.npt.model_copy(update={"temperature_K": temperature_K, "seed": settings.seed})


def _npt_path(
    folder: Path, temperature_K: float, start: str, settings: DopingStudySettings
) -> Path:
    return (
        folder
        / f"npt_{temperature_K:g}K_{start}_{_npt_settings(settings, temperature_K).fingerprint()}.h5"
    )


def _run_npt_point(
    atoms: Atoms,
    velocities,
    system: str,
    temperature_K: float,
    start: str,
    model: str,
    settings: DopingStudySettings,
    folder: Path,
) -> NPTDocument:
    path = _npt_path(folder, temperature_K, start, settings)
    run_npt_md(
        atoms,
        get_calculator(model),
        _npt_settings(settings, temperature_K),
        path,
        velocities_A_per_fs=velocities,
        attrs={"model": model, "system": system},
    )
    return _npt_document(path, system, temperature_K, start, model, settings)


def _npt_document(
    path: Path,
    system: str,
    temperature_K: float,
    start: str,
    model: str,
    settings: DopingStudySettings,
) -> NPTDocument:
    """The phase call, mean cell and dihedrals of one finished NPT trajectory (either engine)."""
    trajectory = read_trajectory(path)
    lattice = lattice_parameters(trajectory.cell, settings.supercell)
    curves = {"times_ps": trajectory.times_ps.tolist(), "lattice": lattice.tolist()}
    try:
        dihedrals, series = dihedral_analysis(
            trajectory.species,
            trajectory.positions,
            trajectory.cell,
            trajectory.frame_interval_fs,
            settings.dihedral_window_ps,
        )
        curves.update({key: value.tolist() for key, value in series.items()})
    except ValueError:  # no tetrahedra of Sb/W with S in this structure
        dihedrals = None
    n_atoms = len(trajectory.species)
    return NPTDocument(
        system=system,
        temperature_K=temperature_K,
        start=start,
        model=model,
        model_provenance=model_provenance(model),
        settings=_npt_settings(settings, temperature_K),
        n_atoms=n_atoms,
        phase=classify_phase(lattice, settings.thresholds),
        mean_cell_A=trajectory.mean_cell.tolist(),
        volume_per_atom_A3=float(np.abs(np.linalg.det(trajectory.cell)).mean() / n_atoms),
        dihedrals=dihedrals,
        trajectory_path=str(path.resolve()),
        curves=curves,
    )


@job(data=["curves"], output_schema=NPTDocument)
@worker(GPU)
def doped_npt_point(
    cell: DopedCell,
    system: str,
    temperature_K: float,
    model: str,
    settings: DopingStudySettings,
    trajectory_dir: str,
    study_id: str,
) -> NPTDocument:
    """One coarse-grid point: NPT from the doped cell."""
    atoms = AseAtomsAdaptor.get_atoms(DopedCell.model_validate(cell).structure)
    return _run_npt_point(
        atoms,
        None,
        system,
        temperature_K,
        "cell",
        model,
        settings,
        _folder(trajectory_dir, study_id, system),
    )


def last_frame(trajectory_path: str) -> tuple[Atoms, np.ndarray]:
    """An NPT run's final state: atoms (positions, cell) and velocities (A/fs), where a continuation starts."""
    trajectory = read_trajectory(trajectory_path)
    cell = trajectory.cell if trajectory.cell.ndim == 2 else trajectory.cell[-1]
    return Atoms(
        trajectory.species, positions=trajectory.positions[-1], cell=cell, pbc=True
    ), trajectory.velocities[-1]


@job(data=["fine_runs"], output_schema=TransitionDocument)
@worker(GPU)
def doped_transition(
    coarse: list[NPTDocument],
    system: str,
    model: str,
    settings: DopingStudySettings,
    trajectory_dir: str,
    study_id: str,
) -> TransitionDocument:
    """The fine grid between the coarse bracket's ends, each point run from the tetragonal endpoint's and from the
    cubic endpoint's last frame (positions, velocities, cell), and T_C. One job, so that one GPU worker takes the
    whole grid."""
    coarse = [NPTDocument.model_validate(doc) for doc in coarse]
    phases = {doc.temperature_K: doc.phase.phase for doc in coarse}
    bracket = coarse_bracket(phases)
    if bracket is None:
        return TransitionDocument(system=system, estimate=transition_temperature(phases))
    by_temperature = {doc.temperature_K: doc for doc in coarse}
    endpoints = {
        "tetragonal": last_frame(by_temperature[bracket[0]].trajectory_path),
        "cubic": last_frame(by_temperature[bracket[1]].trajectory_path),
    }
    folder = _folder(trajectory_dir, study_id, system)
    grid = fine_grid(*bracket, settings.fine_step_K)
    # every run of the grid in one batch: one model call per step
    if settings.fine_grid_engine == "torchsim":
        runs = [(t, start, *endpoints[start]) for t in grid for start in endpoints]
        paths = [_npt_path(folder, t, f"from-{start}", settings) for t, start, _, _ in runs]
        run_torchsim_npt_md(
            [atoms for _, _, atoms, _ in runs],
            get_torchsim_model(model),
            [_npt_settings(settings, t) for t, _, _, _ in runs],
            paths,
            [v for _, _, _, v in runs],
            [{"model": model, "system": system} for _ in runs],
        )
        documents = {
            (t, start): _npt_document(path, system, t, f"from-{start}", model, settings)
            for (t, start, _, _), path in zip(runs, paths, strict=True)
        }
    else:
        documents = {
            (t, start): _run_npt_point(
                atoms, velocities, system, t, f"from-{start}", model, settings, folder
            )
            for t in grid
            for start, (atoms, velocities) in endpoints.items()
        }
    points = [
        FinePoint(
            temperature_K=t,
            from_tetragonal=documents[t, "tetragonal"].phase.phase,
            from_cubic=documents[t, "cubic"].phase.phase,
        )
        for t in grid
    ]
    return TransitionDocument(
        system=system,
        estimate=transition_temperature(phases, points),
        fine_runs=list(documents.values()),
    )


@job(data=["curves"], output_schema=DopedTransportDocument)
@worker(GPU)
def doped_transport(
    npt: NPTDocument,
    system: str,
    model: str,
    settings: DopingStudySettings,
    trajectory_dir: str,
    study_id: str,
) -> DopedTransportDocument:
    """NVT equilibration then NVE (or Langevin) production at the NPT point's mean cell, from its last frame's
    fractional coordinates; D, kinisi D*, D_sigma and H_R, and D along c and in ab when the point is tetragonal."""
    npt = NPTDocument.model_validate(npt)
    final, _ = last_frame(npt.trajectory_path)
    atoms = Atoms(
        final.get_chemical_symbols(),
        scaled_positions=final.get_scaled_positions(),
        cell=np.array(npt.mean_cell_A),
        pbc=True,
    )
    md = settings.transport.model_copy(
        update={"temperature_K": npt.temperature_K, "seed": settings.seed}
    )
    path = (
        _folder(trajectory_dir, study_id, system)
        / f"transport_{npt.temperature_K:g}K_{md.fingerprint()}.h5"
    )
    run_langevin_md(
        atoms, get_calculator(model), md, path, attrs={"model": model, "system": system}
    )
    trajectory = read_trajectory(path)
    analysis, curves = analyze_trajectory(
        trajectory, "Na", use_kinisi=settings.use_kinisi, seed=settings.seed
    )
    axial = (
        axial_diffusion(trajectory, npt.phase.unique_axis)
        if npt.phase.phase == "tetragonal"
        else None
    )
    return DopedTransportDocument(
        system=system,
        temperature_K=npt.temperature_K,
        phase=npt.phase.phase,
        model=model,
        n_atoms=len(atoms),
        model_provenance=model_provenance(model),
        trajectory_path=str(path.resolve()),
        analysis=analysis,
        axial=axial,
        curves={key: np.asarray(value).tolist() for key, value in curves.items()},
    )


def _arrhenius(points: dict[float, float | None]):
    usable = {t: d for t, d in points.items() if d is not None and d > 0}
    return arrhenius_fit(list(usable), list(usable.values())) if len(usable) >= 2 else None


@job(data=["transport"], output_schema=SystemSummary)
def doped_system_summary(
    system: str,
    cell: DopedCell,
    coarse: list[NPTDocument],
    transition: TransitionDocument,
    transport: list[DopedTransportDocument],
) -> SystemSummary:
    """One doped system's record: its cell, T_C, lattice against T, transport and dihedrals."""
    transition = TransitionDocument.model_validate(transition)
    runs = [NPTDocument.model_validate(doc) for doc in coarse] + transition.fine_runs
    lattice: dict[float, list] = {}
    for run in runs:
        lattice.setdefault(run.temperature_K, []).append(run.phase.lattice_A)
    transport = [DopedTransportDocument.model_validate(doc) for doc in transport]
    series = {
        "D": {t.temperature_K: t.analysis.D_avg_A2_per_ps for t in transport},
        "D_star": {
            t.temperature_K: t.analysis.kinisi.D_A2_per_ps if t.analysis.kinisi else None
            for t in transport
        },
        "D_c": {t.temperature_K: t.axial.D_c_A2_per_ps for t in transport if t.axial},
        "D_ab": {t.temperature_K: t.axial.D_ab_A2_per_ps for t in transport if t.axial},
    }
    fits = {name: fit for name, points in series.items() if (fit := _arrhenius(points)) is not None}
    dihedrals = {
        f"{run.temperature_K:g}": {
            "times_ps": run.curves["dihedral_times_ps"],
            "pairs_deg": np.asarray(run.curves["dihedral_window_deg"])[:, :4].tolist(),
        }
        for run in runs[: len(coarse)]
        if "dihedral_window_deg" in run.curves
    }
    return SystemSummary(
        system=system,
        cell=cell,
        transition=transition.estimate,
        transport=transport,
        arrhenius=fits,
        dihedral_series=dihedrals,
        lattice_vs_T={
            f"{t:g}": np.mean(values, axis=0).tolist() for t, values in sorted(lattice.items())
        },
    )


def study_tables(systems: list[SystemSummary]) -> tuple[list[dict], list[dict]]:
    """The study's table (one row per system) and the transport table (one row per system and temperature)."""
    rows, transport_rows = [], []
    for summary in systems:
        top = max(summary.transport, key=lambda t: t.temperature_K) if summary.transport else None
        kinisi = top.analysis.kinisi if top else None

        fits = summary.arrhenius

        def activation(name: str, fits=fits) -> float | None:
            return fits[name].activation_energy_eV if name in fits else None

        rows.append(
            {
                "system": summary.system,
                "dopant": summary.cell.dopant,
                "vacancy_mode": summary.cell.vacancy_mode,
                "x_requested": summary.cell.requested_fraction,
                "x_achieved": summary.cell.achieved_fraction,
                "n_dopant": summary.cell.n_dopant,
                "n_vacancies": summary.cell.n_vacancies,
                "formula": summary.cell.formula,
                "T_C_K": summary.transition.T_C_K,
                "T_C_uncertainty_K": summary.transition.uncertainty_K,
                "T_C_reason": summary.transition.reason,
                "T_transport_K": top.temperature_K if top else None,
                "D_star_A2_per_ps": kinisi.D_A2_per_ps if kinisi else None,
                "D_sigma_A2_per_ps": kinisi.D_jump_A2_per_ps if kinisi else None,
                "haven_ratio": kinisi.haven_ratio if kinisi else None,
                "Ea_eV": activation("D"),
                "Ea_D_star_eV": activation("D_star"),
                "Ea_c_eV": activation("D_c"),
                "Ea_ab_eV": activation("D_ab"),
            }
        )
        for run in summary.transport:
            k = run.analysis.kinisi
            transport_rows.append(
                {
                    "system": summary.system,
                    "temperature_K": run.temperature_K,
                    "phase": run.phase,
                    "D_A2_per_ps": run.analysis.D_avg_A2_per_ps,
                    "D_star_A2_per_ps": k.D_A2_per_ps if k else None,
                    "D_star_low": k.D_interval_A2_per_ps[0] if k else None,
                    "D_star_high": k.D_interval_A2_per_ps[1] if k else None,
                    "D_sigma_A2_per_ps": k.D_jump_A2_per_ps if k else None,
                    "haven_ratio": k.haven_ratio if k else None,
                    "D_c_A2_per_ps": run.axial.D_c_A2_per_ps if run.axial else None,
                    "D_ab_A2_per_ps": run.axial.D_ab_A2_per_ps if run.axial else None,
                    "melted": run.analysis.melted,
                }
            )
    return rows, transport_rows


@job(data=["systems", "harmonic"], output_schema=DopedStudyDocument)
def doped_study_summary(
    study_id: str,
    structure_formula: str,
    model: str,
    preset: str,
    systems: list[SystemSummary],
    harmonic: dict | None = None,
    harmonic_structure: Structure | None = None,
) -> DopedStudyDocument:
    """The doped study's document: every system's summary and the study's tables."""
    systems = [SystemSummary.model_validate(s) for s in systems]
    table, transport_table = study_tables(systems)
    harmonic = harmonic.model_dump() if hasattr(harmonic, "model_dump") else harmonic
    return DopedStudyDocument(
        study_id=study_id,
        structure_formula=structure_formula,
        model=model,
        preset=preset,
        systems=systems,
        table=table,
        transport_table=transport_table,
        harmonic=harmonic,
        harmonic_structure=harmonic_structure.as_dict() if harmonic_structure else None,
    )
