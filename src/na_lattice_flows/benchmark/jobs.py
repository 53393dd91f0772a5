"""Makers of the MLP force benchmark as a flow: one job per structure and model (all of its supercells), one
ranking job that stores the per-model metrics, the chosen model and the per-structure evidence; for new
references, DFT forces on random-displacement supercells (GPAW in one job; VASP in one static per supercell,
collected by a job that rebuilds the same seeded displacements); and the benchmark on trajectory frames (AIMD),
which follows the AIMD validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jobflow import Flow, Job, JobConfig, Maker, OnMissing, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from na_lattice_flows.benchmark.dft_phonons import PhononComparison, compare_phonons
from na_lattice_flows.benchmark.forces import (
    BenchmarkSummary,
    ModelEvaluation,
    evaluate_model,
    summarize,
)
from na_lattice_flows.benchmark.frames import DEFAULT_N_FRAMES, FrameBenchmark, benchmark_frames
from na_lattice_flows.dft.gpaw import GPAWSettings, gpaw_forces
from na_lattice_flows.errors import InputError
from na_lattice_flows.models import get_calculator
from na_lattice_flows.phonons.references import (
    DisplacementReference,
    displaced_supercells,
    load_reference,
    predict_forces,
    random_displacement_reference,
    random_displacements,
    reference_from_phonopy,
    residual_forces,
)
from na_lattice_flows.routing import CPU, GPU, worker
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.structure.supercells import DEFAULT_MIN_ATOMS, paper_supercell

RANKING_JOB_NAME = "mlp benchmark ranking"
FRAME_BENCHMARK_JOB_NAME = "mlp benchmark on aimd frames"
DFT_PHONON_JOB_NAME = "dft vs mlp phonons"


class ForceEvaluationDocument(BaseModel):
    """A model on one reference: the metrics, and the MLP's forces and force constants (``data`` store)."""

    evaluation: ModelEvaluation
    mlp_forces: list = Field(description="(n_supercells, n_atoms, 3) eV/A")
    mlp_force_constants: list = Field(
        description="phonopy compact second-order force constants, eV/A^2"
    )


@job(data=["mlp_forces", "mlp_force_constants"], output_schema=ForceEvaluationDocument)
@worker(GPU)
def evaluate_model_on_reference(
    reference: str | DisplacementReference, model: str
) -> ForceEvaluationDocument:
    """Every displaced supercell of ``reference`` (a path, or a reference document) with ``model``."""
    if not isinstance(reference, DisplacementReference):
        reference = load_reference(reference)
    evaluation, forces, force_constants = evaluate_model(reference, model, get_calculator(model))
    return ForceEvaluationDocument(
        evaluation=evaluation,
        mlp_forces=forces.tolist(),
        mlp_force_constants=force_constants.tolist(),
    )


@job(output_schema=BenchmarkSummary, config=JobConfig(on_missing_references=OnMissing.NONE))
def rank_models(evaluations: list[ModelEvaluation | dict | None]) -> BenchmarkSummary:
    """Rank over the evaluations that finished; a failed one arrives as None and is left out."""
    finished = [
        ModelEvaluation.model_validate(e) if isinstance(e, dict) else e
        for e in evaluations
        if e is not None
    ]
    return summarize(finished)


@dataclass
class ForceBenchmarkMaker(Maker):
    """Rank MLPs against DFT forces on displaced supercells (paper §2.2)."""

    name: str = "mlp force benchmark"
    models: tuple[str, ...] = ("chgnet", "7net-0", "7net-l3i5")

    def make(self, references: list) -> Flow:
        """``references``: paths (phononDB archives/folders, phonopy yaml) or DisplacementReference outputs."""
        evaluations = []
        for index, reference in enumerate(references):
            # jobs run in their own folders: paths must be absolute
            if isinstance(reference, str | Path):
                reference = str(Path(reference).resolve())
            label = Path(reference).name if isinstance(reference, str) else f"reference {index}"
            for model in self.models:
                evaluation = evaluate_model_on_reference(reference, model)
                evaluation.name = f"forces {model} {label}"
                evaluations.append(evaluation)
        ranking = rank_models([e.output.evaluation for e in evaluations])
        ranking.name = RANKING_JOB_NAME
        return Flow([*evaluations, ranking], output=ranking.output, name=self.name)


@job(data=["dataset"], output_schema=DisplacementReference)
@worker(CPU)
def gpaw_random_displacement_reference(
    structure: Structure,
    name: str,
    supercell_matrix: list[list[int]],
    n_supercells: int,
    amplitude_A: float,
    seed: int,
    settings: GPAWSettings,
) -> DisplacementReference:
    """The paper's random-displacement supercells of ``structure`` with GPAW forces."""
    return random_displacement_reference(
        structure,
        supercell_matrix,
        lambda supercells: gpaw_forces(supercells, settings),
        name=name,
        n_supercells=n_supercells,
        amplitude_A=amplitude_A,
        seed=seed,
    )


@dataclass
class GPAWReferenceMaker(Maker):
    """New DFT references the paper's way: ``n_supercells`` supercells (>= 80 atoms, near-equal lengths) with
    every atom displaced by 0.03 A in a random direction (phonopy, seeded), forces from GPAW."""

    name: str = "gpaw displacement reference"
    n_supercells: int = SETTINGS.phonon_supercells
    amplitude_A: float = SETTINGS.displacement_amplitude_A
    seed: int = 0
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    supercell_matrix: list[list[int]] | None = None
    settings: GPAWSettings = field(default_factory=GPAWSettings)

    def make(self, structure: Structure, name: str) -> Job:
        """The GPAW reference job of ``structure`` on the paper supercell (or ``supercell_matrix``)."""
        matrix = (
            self.supercell_matrix
            or paper_supercell(structure, self.min_supercell_atoms).supercell_matrix
        )
        reference = gpaw_random_displacement_reference(
            structure, name, matrix, self.n_supercells, self.amplitude_A, self.seed, self.settings
        )
        reference.name = f"{self.name} {name}"
        return reference


@job(data=["dataset"], output_schema=DisplacementReference)
def vasp_random_displacement_reference(
    structure: Structure,
    name: str,
    supercell_matrix: list[list[int]],
    n_supercells: int,
    amplitude_A: float,
    seed: int,
    forces: list,
    statics: list[Structure],
) -> DisplacementReference:
    """The VASP statics' forces (one per supercell, in phonopy's order) on the same seeded displacements."""
    ph = random_displacements(structure, supercell_matrix, n_supercells, amplitude_A, seed)
    expected = list(ph.supercell.symbols)
    for index, static in enumerate(statics):
        static = Structure.from_dict(static) if isinstance(static, dict) else static
        species = [site.specie.symbol for site in static]
        if species != expected:
            raise InputError(
                f"{name}: static {index + 1} has {len(species)} atoms ({species[:4]}...), not the supercell's {len(expected)} in phonopy's order"
            )
    ph.forces = np.asarray(forces, dtype=float)
    return reference_from_phonopy(
        ph, name=name, source=f"VASP statics, random displacements {amplitude_A} A, seed {seed}"
    )


@dataclass
class VaspReferenceMaker(Maker):
    """``GPAWReferenceMaker``'s supercells (seeded, every atom displaced 0.03 A) with forces from tight VASP
    statics (``dft.vasp_jobs.displaced_static_maker``) through custodian on CPU workers, one job per supercell."""

    name: str = "vasp displacement reference"
    n_supercells: int = SETTINGS.phonon_supercells
    amplitude_A: float = SETTINGS.displacement_amplitude_A
    seed: int = 0
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    supercell_matrix: list[list[int]] | None = None
    functional: str = "PBE"
    incar_updates: dict = field(default_factory=dict)

    def make(self, structure: Structure, name: str) -> Flow:
        """One VASP static per displaced supercell, then the reference built from their forces."""
        from pymatgen.io.phonopy import get_pmg_structure

        from na_lattice_flows.dft.vasp_jobs import displaced_static_maker

        matrix = (
            self.supercell_matrix
            or paper_supercell(structure, self.min_supercell_atoms).supercell_matrix
        )
        ph = random_displacements(structure, matrix, self.n_supercells, self.amplitude_A, self.seed)
        maker = displaced_static_maker(self.functional, self.incar_updates)
        statics = []
        for index, supercell in enumerate(ph.supercells_with_displacements):
            static = maker.make(get_pmg_structure(supercell))
            static.name = f"{self.name} {name} {index + 1}/{self.n_supercells}"
            statics.append(static)
        reference = vasp_random_displacement_reference(
            structure,
            name,
            matrix,
            self.n_supercells,
            self.amplitude_A,
            self.seed,
            [s.output.output.forces for s in statics],
            [s.output.output.structure for s in statics],
        )
        reference.name = f"{self.name} {name}"
        return Flow([*statics, reference], output=reference.output, name=f"{self.name} {name}")


@job(
    data=["parity", "per_file"],
    output_schema=FrameBenchmark,
    config=JobConfig(on_missing_references=OnMissing.NONE),
)
@worker(GPU)
def benchmark_trajectory_frames(
    runs: list, models: list[str], n_frames: int = DEFAULT_N_FRAMES, seed: int = 0
) -> FrameBenchmark:
    """``models`` on ``n_frames`` random frames of each run. A run is a path, a list of segment paths, or an
    AIMD validation document (its ``aimd_trajectory_paths``); a run whose upstream job failed arrives as None
    and is left out."""
    sources = []
    for run in runs:
        if run is None:
            continue
        paths = (
            run.get("aimd_trajectory_paths")
            if isinstance(run, dict)
            else getattr(run, "aimd_trajectory_paths", run)
        )
        sources.append(paths)
    return benchmark_frames(sources, models, n_frames=n_frames, seed=seed, progress=False)


@job(data=["bands"], output_schema=PhononComparison)
@worker(GPU)
def compare_dft_phonons(
    reference: DisplacementReference | dict, model: str, temperature_K: float
) -> PhononComparison:
    """The model's force constants on the DFT reference's supercells against the DFT ones (Na MSD, dispersions)."""
    reference = DisplacementReference.model_validate(reference)
    calculator = get_calculator(model)
    forces = predict_forces(displaced_supercells(reference), calculator)
    residual = residual_forces(reference, calculator)
    return compare_phonons(reference, forces - residual, model, temperature_K)
