"""Training a force field as flows: MLP MD of each configuration at each temperature, a selection of diverse
frames, DFT labels on them (split over several jobs), one dataset with independent splits; then a fit (Allegro
from scratch) tested on the held-out split beside pretrained models, its model file ready for the registry.

Frames travel between jobs as extended XYZ text (it keeps each frame's provenance in its info line); the dataset
and the training curves go to the ``data`` store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jobflow import Flow, Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.benchmark.frames import benchmark_frames
from na_lattice_flows.dft.gpaw import GPAWSettings
from na_lattice_flows.dft.vasp_jobs import functional_incar
from na_lattice_flows.errors import InputError
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.settings import MDSettings, md_settings
from na_lattice_flows.models import PROVENANCE_SUFFIX, get_calculator
from na_lattice_flows.routing import CPU, GPU, worker
from na_lattice_flows.settings import trajectory_folder
from na_lattice_flows.training.allegro import AllegroSettings, train_allegro
from na_lattice_flows.training.dataset import (
    from_extxyz,
    label_frames,
    split_by_group,
    to_extxyz,
    write_splits,
)
from na_lattice_flows.training.schemas import DatasetDocument, TrainedModelDocument
from na_lattice_flows.training.selection import select_frames
from na_lattice_flows.training.sevennet import SevenNetFineTuneSettings, finetune_sevennet
from na_lattice_flows.training.uma import UMAFineTuneSettings, finetune_uma
from na_lattice_flows.training.vasp_labels import vasp_label_frames

# emt: ASE's effective-medium potential, an exact stand-in for DFT in tests and demos
LABELLERS = (
    "gpaw",
    "vasp",
    "emt",
)
GROUPINGS = ("configuration", "run")
DATASET_JOB_NAME = "training dataset"
FIT_JOB_NAME = "force field fit"


@job
@worker(GPU)
def sample_md_frames(
    structure: Structure, configuration: str, model: str, settings: MDSettings, trajectory_dir: str
) -> dict:
    """MLP Langevin MD of ``structure`` (restartable); the run's trajectory and provenance."""
    path = (
        Path(trajectory_dir)
        / "training"
        / configuration
        / f"md_{settings.temperature_K:g}K_{model.replace('/', '_').replace(':', '_')}_{settings.fingerprint()}.h5"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    run_langevin_md(
        atoms,
        get_calculator(model),
        settings,
        path,
        attrs={"model": model, "configuration": configuration},
        progress=False,
    )
    return {
        "trajectory_path": str(path),
        "configuration": configuration,
        "temperature_K": settings.temperature_K,
        "run": f"{configuration}@{settings.temperature_K:g}K",
    }


@job(data=["extxyz"])
def select_training_frames(
    runs: list[dict], n_select: int, min_distance: float, cutoff_A: float
) -> dict:
    """Farthest-point selection (``training.selection``) over the frames of every run together."""
    from ase import Atoms

    from na_lattice_flows.md.trajectory import read_trajectory

    frames = []
    for run in runs:
        trajectory = read_trajectory(run["trajectory_path"])
        cells = (
            trajectory.cell
            if trajectory.cell.ndim == 3
            else [trajectory.cell] * trajectory.n_frames
        )
        for index, (positions, cell) in enumerate(zip(trajectory.positions, cells, strict=True)):
            atoms = Atoms(trajectory.species, positions=positions, cell=cell, pbc=True)
            atoms.wrap()
            atoms.info.update(
                configuration=run["configuration"],
                run=run["run"],
                temperature_K=run["temperature_K"],
                frame_index=index,
                source=run["trajectory_path"],
            )
            frames.append(atoms)
    chosen = select_frames(frames, n_select, cutoff_A, min_distance)
    return {
        "extxyz": to_extxyz([frames[i] for i in sorted(chosen)]),
        "n_candidates": len(frames),
        "n_selected": len(chosen),
    }


def labeller_calculator(labeller: str, gpaw_settings: GPAWSettings | None):
    """The calculator and its provenance label for a labeller name."""
    if labeller == "gpaw":
        from na_lattice_flows.dft.gpaw import gpaw_calculator

        settings = gpaw_settings or GPAWSettings()
        return gpaw_calculator(settings), f"gpaw {settings.xc} {settings.ecut_eV:g} eV"
    if labeller == "emt":
        from ase.calculators.emt import EMT

        return EMT(), "emt"
    raise InputError(f"unknown labeller {labeller!r}; choose from {', '.join(LABELLERS)}")


@job(data=["extxyz"])
@worker(CPU)
def label_training_frames(
    selection: dict, part: int, n_parts: int, labeller: str, gpaw_settings: GPAWSettings | None
) -> dict:
    """DFT single points (energy, forces, stress) on every ``n_parts``-th selected frame, starting at ``part``."""
    frames = from_extxyz(selection["extxyz"])[part::n_parts]
    if not frames:
        return {"extxyz": "", "n_frames": 0}
    calculator, label = labeller_calculator(labeller, gpaw_settings)
    return {
        "extxyz": to_extxyz(label_frames(frames, calculator, label, progress=False)),
        "n_frames": len(frames),
    }


@job(data=["extxyz"], output_schema=DatasetDocument)
def collect_dataset(
    parts: list[dict], name: str, folder: str, fractions: list[float], group_by: str, seed: int
) -> DatasetDocument:
    """One dataset from the labelled parts, split so that no configuration (or run) is on two sides."""
    frames = [atoms for part in parts if part["extxyz"] for atoms in from_extxyz(part["extxyz"])]
    groups = [str(atoms.info[group_by]) for atoms in frames]
    splits = split_by_group(groups, fractions, seed)
    paths = write_splits(frames, splits, folder)
    return DatasetDocument(
        name=name,
        folder=str(Path(folder).resolve()),
        split_paths=paths,
        n_frames={split: len(indices) for split, indices in splits.items()},
        groups={split: sorted({groups[i] for i in indices}) for split, indices in splits.items()},
        group_by=group_by,
        elements=sorted({s for atoms in frames for s in atoms.get_chemical_symbols()}),
        labellers=sorted({str(atoms.info.get("labeller")) for atoms in frames}),
        extxyz=to_extxyz(frames),
    )


@dataclass
class TrainingSetMaker(Maker):
    """MLP MD of each configuration at each temperature (the study: 700 and 200 K), ``n_select`` frames by
    farthest-point sampling, labelled by ``labeller`` in ``n_label_jobs`` jobs, split by ``group_by``."""

    name: str = "training set"
    model: str = "7net-0"
    temperatures_K: tuple[float, ...] = (700.0, 200.0)
    md_overrides: dict = field(
        default_factory=lambda: {
            "n_equilibration_steps": 500,
            "n_production_steps": 2000,
            "frame_interval_steps": 20,
            "timestep_fs": 2.0,
        }
    )
    n_select: int = 100
    min_distance: float = 0.0
    descriptor_cutoff_A: float = 6.0
    labeller: str = "gpaw"
    gpaw_settings: GPAWSettings | None = None
    vasp_functional: str = (
        "PBE"  # or r2SCAN, PBEsol (``labeller="vasp"``: one atomate2 static per frame, HPC)
    )
    vasp_incar_updates: dict = field(default_factory=dict)
    vasp_reciprocal_density: int = 100
    n_label_jobs: int = 4
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    group_by: str = "configuration"
    seed: int = 0
    dataset_dir: str | None = None  # default <trajectory folder>/../datasets/<name>
    trajectory_dir: str | None = None

    def __post_init__(self) -> None:
        if self.labeller not in LABELLERS:
            raise InputError(
                f"unknown labeller {self.labeller!r}; choose from {', '.join(LABELLERS)}"
            )
        if self.group_by not in GROUPINGS:
            raise InputError(
                f"group_by must be one of {', '.join(GROUPINGS)}; got {self.group_by!r}"
            )
        if self.n_select < 1 or self.n_label_jobs < 1:
            raise InputError(
                f"n_select ({self.n_select}) and n_label_jobs ({self.n_label_jobs}) must be at least 1"
            )
        if self.labeller == "vasp":
            functional_incar(self.vasp_functional)
        for temperature in self.temperatures_K:
            # a bad field fails here
            md_settings("paper", **{**self.md_overrides, "temperature_K": temperature})
        self.trajectory_dir = str(trajectory_folder(self.trajectory_dir))

    def make(self, structures: dict[str, Structure]) -> Flow:
        """``structures``: configuration name -> cell (e.g. the doped cells, or screening hits)."""
        if not structures:
            raise InputError("no structures to sample a training set from")
        dataset_dir = self.dataset_dir or str(
            Path(self.trajectory_dir).parent / "datasets" / self.name.replace(" ", "_")
        )
        runs = []
        for configuration, structure in structures.items():
            for temperature in self.temperatures_K:
                settings = md_settings(
                    "paper",
                    **{**self.md_overrides, "temperature_K": temperature, "seed": self.seed},
                )
                md = sample_md_frames(
                    structure, configuration, self.model, settings, self.trajectory_dir
                )
                md.name = f"training md {configuration} {temperature:g} K"
                runs.append(md)
        selection = select_training_frames(
            [run.output for run in runs], self.n_select, self.min_distance, self.descriptor_cutoff_A
        )
        selection.name = "training frame selection"
        labels = []
        if self.labeller == "vasp":
            label = vasp_label_frames(
                selection.output,
                self.vasp_functional,
                self.vasp_incar_updates,
                self.vasp_reciprocal_density,
            )
            label.name = "training labels vasp"
            labels.append(label)
        for part in range(self.n_label_jobs if self.labeller != "vasp" else 0):
            label = label_training_frames(
                selection.output, part, self.n_label_jobs, self.labeller, self.gpaw_settings
            )
            label.name = f"training labels {self.labeller} {part + 1}/{self.n_label_jobs}"
            labels.append(label)
        dataset = collect_dataset(
            [label.output for label in labels],
            self.name,
            dataset_dir,
            list(self.fractions),
            self.group_by,
            self.seed,
        )
        dataset.name = DATASET_JOB_NAME
        return Flow(
            [*runs, selection, *labels, dataset],
            output=dataset.output,
            name=f"{self.name} ({len(structures)} configurations)",
        )


def write_provenance(model_name: str, document: dict) -> None:
    """``<model file>.provenance.json``: what ``models.model_provenance`` returns for the model."""
    path = model_name.split(":", 1)[1]
    Path(path + PROVENANCE_SUFFIX).write_text(json.dumps(document, indent=2, default=str))


def _trained_model_document(
    route: str,
    model: str,
    run,
    dataset: DatasetDocument,
    settings: dict,
    baseline_models: list[str],
) -> TrainedModelDocument:
    """Test the trained model and the baselines on the held-out split; write the provenance beside the model."""
    test = benchmark_frames(
        [dataset.split_paths["test"]], [model, *baseline_models], n_frames=10**9, progress=False
    )
    write_provenance(
        model,
        {
            "route": route,
            "dataset": dataset.name,
            "dataset_folder": dataset.folder,
            "n_frames": dataset.n_frames,
            "groups": dataset.groups,
            "labellers": dataset.labellers,
            "settings": settings,
            "test_force_rmse_meV_per_A": test.models[model].force_rmse_meV_per_A
            if model in test.models
            else None,
        },
    )
    return TrainedModelDocument(
        model=model,
        route=route,
        dataset=dataset.name,
        dataset_folder=dataset.folder,
        n_frames=dataset.n_frames,
        settings=settings,
        curves=run.curves,
        test=test,
        seconds=run.seconds,
        resumed=run.resumed,
    )


def _checked(dataset: DatasetDocument | dict) -> DatasetDocument:
    dataset = DatasetDocument.model_validate(dataset)
    if "test" not in dataset.split_paths or "val" not in dataset.split_paths:
        raise InputError(
            f"dataset {dataset.name}: a fit needs a validation and a test split; it has {', '.join(dataset.split_paths)}"
        )
    return dataset


@job(data=["curves", "test"], output_schema=TrainedModelDocument)
@worker(GPU)
def fit_allegro(
    dataset: DatasetDocument | dict,
    settings: AllegroSettings,
    workdir: str,
    baseline_models: list[str],
) -> TrainedModelDocument:
    """Fit Allegro on the dataset's splits and compare it with the baselines on the test split."""
    dataset = _checked(dataset)
    run = train_allegro(settings, dataset.split_paths, dataset.elements, workdir)
    return _trained_model_document(
        "allegro", f"allegro:{run.model_path}", run, dataset, settings.model_dump(), baseline_models
    )


@job(data=["curves", "test"], output_schema=TrainedModelDocument)
@worker(GPU)
def finetune_sevennet_job(
    dataset: DatasetDocument | dict,
    settings: SevenNetFineTuneSettings,
    workdir: str,
    baseline_models: list[str],
) -> TrainedModelDocument:
    """Fine-tune SevenNet on the dataset and compare it with 7net-0 and the baselines."""
    dataset = _checked(dataset)
    run = finetune_sevennet(settings, dataset.split_paths, workdir)
    # the pretrained start is always compared
    baselines = list(dict.fromkeys(["7net-0", *baseline_models]))
    return _trained_model_document(
        "sevennet", f"sevennet:{run.model_path}", run, dataset, settings.model_dump(), baselines
    )


@job(data=["curves", "test"], output_schema=TrainedModelDocument)
@worker(GPU)
def finetune_uma_job(
    dataset: DatasetDocument | dict,
    settings: UMAFineTuneSettings,
    workdir: str,
    baseline_models: list[str],
) -> TrainedModelDocument:
    """Fine-tune a UMA checkpoint on the dataset and compare it with its start and the baselines."""
    dataset = _checked(dataset)
    run = finetune_uma(settings, dataset.split_paths, workdir)
    # the start
    baselines = list(
        dict.fromkeys([f"fairchem:{Path(settings.checkpoint).resolve()}", *baseline_models])
    )
    return _trained_model_document(
        "uma", f"fairchem:{run.model_path}", run, dataset, settings.model_dump(), baselines
    )


def _model_folder(workdir: str | None, name: str) -> str:
    folder = workdir or str(trajectory_folder().parent / "models" / name.replace(" ", "_"))
    return str(Path(folder).resolve())


@dataclass
class AllegroFitMaker(Maker):
    """Allegro from scratch on a dataset (the study's hyperparameters by default), tested on its held-out split
    beside ``baseline_models``."""

    name: str = "allegro fit"
    settings: AllegroSettings = field(default_factory=AllegroSettings)
    workdir: str | None = None  # default: <trajectory folder>/../models/<name>
    baseline_models: tuple[str, ...] = ("7net-0",)

    def make(self, dataset: DatasetDocument | dict):
        """The fit job on ``dataset``."""
        fit = fit_allegro(
            dataset,
            self.settings,
            _model_folder(self.workdir, self.name),
            list(self.baseline_models),
        )
        fit.name = f"{FIT_JOB_NAME} allegro"
        return fit


@dataclass
class SevenNetFineTuneMaker(Maker):
    """SevenNet-0 fine-tuned on a dataset (SevenNet's fine_tune preset), tested on its held-out split beside the
    pretrained 7net-0 and ``baseline_models``."""

    name: str = "sevennet fine-tune"
    settings: SevenNetFineTuneSettings = field(default_factory=SevenNetFineTuneSettings)
    workdir: str | None = None
    baseline_models: tuple[str, ...] = ()

    def make(self, dataset: DatasetDocument | dict):
        """The fine-tuning job on ``dataset``."""
        fit = finetune_sevennet_job(
            dataset,
            self.settings,
            _model_folder(self.workdir, self.name),
            list(self.baseline_models),
        )
        fit.name = f"{FIT_JOB_NAME} sevennet"
        return fit


@dataclass
class UMAFineTuneMaker(Maker):
    """A fairchem UMA checkpoint (``settings.checkpoint``: the gated weights, downloaded by the user) fine-tuned on
    a dataset with fairchem's own recipe, tested on the held-out split beside the checkpoint it started from."""

    settings: UMAFineTuneSettings
    name: str = "uma fine-tune"
    workdir: str | None = None
    baseline_models: tuple[str, ...] = ()

    def make(self, dataset: DatasetDocument | dict):
        """The fine-tuning job on ``dataset``."""
        fit = finetune_uma_job(
            dataset,
            self.settings,
            _model_folder(self.workdir, self.name),
            list(self.baseline_models),
        )
        fit.name = f"{FIT_JOB_NAME} uma"
        return fit
