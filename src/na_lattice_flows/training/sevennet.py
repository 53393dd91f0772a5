"""Fine-tuning SevenNet-0 (``sevenn``) on a dataset: SevenNet's own ``fine_tune`` preset (the 7net-0
architecture, Huber loss, stress weight 0.01, Adam with exponential decay), continued from the pretrained
checkpoint with our train/val splits, run by the ``sevenn`` command; the best checkpoint (lowest validation
loss) becomes ``sevennet:<workdir>/checkpoint_best.pth`` in the registry.

Labels from another code sit on another energy reference: E_label ~ E_7net-0 + sum_e n_e delta_e, with one
constant delta_e per element (GPAW's energies are relative to its isolated atoms; EMT's to the fcc metals). Left
in, that constant dominates the energy loss and the first epochs spend the pretrained weights absorbing it. So the
start checkpoint's per-element energy shift is moved by the least-squares delta_e on the training split before
any epoch: the fine-tuned model then predicts on the labels' reference, forces untouched by the move.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import units
from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError
from na_lattice_flows.phonons.references import DisplacementReference
from na_lattice_flows.training.allegro import TrainingRun, console_script, run_logged

BEST_CHECKPOINT = "checkpoint_best.pth"
PRETRAINED_CHECKPOINT = "SevenNet-0_11July2024"  # the name sevenn gives 7net-0's shipped weights


class SevenNetFineTuneSettings(BaseModel):
    """SevenNet fine-tuning settings (its preset's values by default)."""

    epochs: int = Field(100, description="the preset: 100")
    learning_rate: float = Field(0.004, description="the preset: 0.004, decaying by 0.99 per epoch")
    batch_size: int = 4
    force_weight: float = 1.0
    stress_weight: float = Field(0.01, description="the preset: 0.01 (0: not trained on stress)")
    seed: int = 1
    align_energy_reference: bool = Field(
        True,
        description="move the start checkpoint's per-element energy shift onto the labels' reference "
        "(least squares on the training split) before fine-tuning",
    )
    train_shift_scale: bool = Field(
        False, description="let the per-element shift and scale train too (the preset: no)"
    )


def sevennet_config(settings: SevenNetFineTuneSettings, splits: dict[str, str]) -> dict:
    """SevenNet's fine_tune preset with our data, epochs and weights."""
    from importlib.resources import files

    import yaml

    config = yaml.safe_load(files("sevenn").joinpath("presets/fine_tune.yaml").read_text())
    config["model"]["train_shift_scale"] = settings.train_shift_scale
    train = config["train"]
    train.update(
        random_seed=settings.seed,
        epoch=settings.epochs,
        force_loss_weight=settings.force_weight,
        stress_loss_weight=settings.stress_weight,
        is_train_stress=settings.stress_weight > 0,
        per_epoch=max(settings.epochs, 1),
    )
    train["optim_param"]["lr"] = settings.learning_rate
    train["continue"]["checkpoint"] = PRETRAINED_CHECKPOINT
    data = config["data"]
    data.update(
        batch_size=settings.batch_size,
        load_trainset_path=[splits["train"]],
        load_validset_path=[splits["val"]],
    )
    data.pop("load_testset_path", None)  # the test split is evaluated by us, with the other models
    data.pop("data_divide_ratio", None)
    return config


def energy_reference_offsets(
    symbols: Sequence[Sequence[str]],
    label_energies: Sequence[float],
    model_energies: Sequence[float],
) -> dict[str, float]:
    """delta_e (eV) minimising sum_f (E_label,f - E_model,f - sum_e n_fe delta_e)^2 over frames f; with fewer
    independent compositions than elements, the minimum-norm solution (any solution fits equally well)."""
    elements = sorted({symbol for frame in symbols for symbol in frame})
    counts = np.array(
        [[list(frame).count(element) for element in elements] for frame in symbols], dtype=float
    )
    residual = np.asarray(label_energies, dtype=float) - np.asarray(model_energies, dtype=float)
    offsets, *_ = np.linalg.lstsq(counts, residual, rcond=None)
    return dict(zip(elements, offsets.tolist(), strict=True))


def shifted_checkpoint(
    source: str | Path, offsets_eV: dict[str, float], destination: str | Path
) -> Path:
    """A copy of a SevenNet checkpoint whose per-element atomic energy shift is moved by ``offsets_eV``."""
    import torch
    from ase.data import atomic_numbers

    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    type_map = checkpoint["config"]["_type_map"]
    shift = checkpoint["model_state_dict"]["rescale_atomic_energy.shift"]
    for element, offset in offsets_eV.items():
        if atomic_numbers[element] not in type_map:
            raise InputError(f"{source}: element {element} is not among the checkpoint's species")
        shift[type_map[atomic_numbers[element]]] += offset
    checkpoint["config"]["shift"] = shift.numpy().copy()
    torch.save(checkpoint, destination)
    return Path(destination)


def aligned_start(train_path: str, workdir: Path) -> tuple[Path, dict[str, float]]:
    """7net-0's checkpoint shifted onto the training labels' energy reference, and the offsets used."""
    from ase.io import read
    from sevenn.calculator import SevenNetCalculator
    from sevenn.util import pretrained_name_to_path

    frames = read(train_path, index=":")
    calculator = SevenNetCalculator("7net-0", device="cpu")
    model_energies = [calculator.get_potential_energy(atoms.copy()) for atoms in frames]
    offsets = energy_reference_offsets(
        [atoms.get_chemical_symbols() for atoms in frames],
        [atoms.get_potential_energy() for atoms in frames],
        model_energies,
    )
    return shifted_checkpoint(
        pretrained_name_to_path("7net-0"), offsets, workdir / "start_aligned.pth"
    ), offsets


def finetune_sevennet(
    settings: SevenNetFineTuneSettings, splits: dict[str, str], workdir: str | Path
) -> TrainingRun:
    """Fine-tune in ``workdir`` (a finished run, whose best checkpoint and learning curve exist, is returned as
    it is; an unfinished one starts again: sevenn's epochs are short against a DFT data set's labelling)."""
    import yaml

    workdir = Path(workdir).resolve()
    best = workdir / BEST_CHECKPOINT
    start = time.perf_counter()
    if not (best.is_file() and (workdir / "done").is_file()):
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in workdir.glob("lc*.csv"):
            stale.unlink()
        config = sevennet_config(settings, splits)
        if settings.align_energy_reference:
            start_checkpoint, offsets = aligned_start(splits["train"], workdir)
            config["train"]["continue"]["checkpoint"] = str(start_checkpoint)
            (workdir / "energy_offsets_eV.json").write_text(json.dumps(offsets, indent=2))
        (workdir / "input.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        run_logged(
            [console_script("sevenn"), str(workdir / "input.yaml"), "-w", str(workdir)],
            workdir / "train.log",
        )
        (workdir / "done").touch()
    return TrainingRun(
        model_path=str(best),
        checkpoint_path=str(best),
        curves=read_learning_curve(workdir / "lc.csv"),
        seconds=time.perf_counter() - start,
    )


CURVE_COLUMNS = {  # ours -> (sevenn's lc.csv column, factor to ours)
    "train_loss": ("trainset_TotalLoss", 1.0),
    # sevenn's force and stress RMSEs are over vectors (sqrt of the mean squared norm), ours over components
    "val_force_rmse_eV_per_A": ("validset_Force_RMSE", 1 / np.sqrt(3)),
    "val_energy_rmse_eV_per_atom": ("validset_Energy_RMSE", 1.0),
    # kbar -> eV/A^3
    "val_stress_rmse_eV_per_A3": (
        "validset_Stress_RMSE",
        0.1 * units.GPa / np.sqrt(6),
    ),
}


def read_learning_curve(path: Path) -> dict[str, list[float | None]]:
    """Per-epoch loss and validation RMSEs (per component, as the frame benchmark's) from sevenn's ``lc.csv``."""
    curves: dict[str, list[float | None]] = {"epoch": [], **{name: [] for name in CURVE_COLUMNS}}
    if not path.is_file():
        return curves
    with path.open() as handle:
        for row in csv.DictReader(handle):
            curves["epoch"].append(float(row["epoch"]))
            for name, (column, factor) in CURVE_COLUMNS.items():
                value = row.get(column)
                curves[name].append(float(value) * factor if value not in (None, "") else None)
    return curves


def finetune_sevennet_on_force_sets(
    settings: SevenNetFineTuneSettings,
    references: Iterable[DisplacementReference],
    frames_per_material: int,
    amplitude_A: float,
    early_stopping_fraction: float,
    workdir: str | Path,
    data_description: dict | None = None,
) -> TrainingRun:
    """7net-0 fine-tuned on the harmonic frames of DFT force sets (``training.harmonic_frames``: every atom
    displaced ``amplitude_A``, forces -Phi u of each archive's DFT force constants, energy 7net-0's of the
    undisplaced supercell + 1/2 u Phi u), a share of the materials held out to choose the epoch; the provenance
    (``data_description``, the split, the settings, the curves) beside the best checkpoint. ``references`` is
    read once, one archive in memory at a time."""
    from sevenn.calculator import SevenNetCalculator

    from na_lattice_flows.models import PROVENANCE_SUFFIX
    from na_lattice_flows.phonons.references import undisplaced_supercell
    from na_lattice_flows.training.chgnet import early_stopping_materials
    from na_lattice_flows.training.dataset import write_splits
    from na_lattice_flows.training.harmonic_frames import harmonic_atoms, material_seed

    workdir = Path(workdir).resolve()
    start_model = SevenNetCalculator("7net-0", device="cpu")
    frames = []
    for reference in references:
        ideal = undisplaced_supercell(reference)
        ideal.calc = start_model
        frames += harmonic_atoms(
            reference,
            frames_per_material,
            amplitude_A,
            material_seed(settings.seed, reference.name),
            float(ideal.get_potential_energy()),
        )
    materials = [atoms.info["configuration"] for atoms in frames]
    held_out = early_stopping_materials(materials, early_stopping_fraction, settings.seed)
    splits = {
        "train": [i for i, m in enumerate(materials) if m not in held_out],
        "val": [i for i, m in enumerate(materials) if m in held_out],
    }
    if not splits["train"] or not splits["val"]:
        raise InputError(
            f"fine-tuning needs materials on both sides: {len(splits['train'])} training and "
            f"{len(splits['val'])} held-out frames"
        )
    paths = write_splits(frames, splits, workdir / "data")
    run = finetune_sevennet(settings, paths, workdir)
    provenance = {
        "route": "sevennet fine-tune (sevenn fine_tune preset) on harmonic frames of DFT force sets",
        "start_model": "7net-0 (SevenNet-0, 11 July 2024)",
        **(data_description or {}),
        "labels": f"harmonic forces of each archive's DFT force constants on {frames_per_material} supercells "
        f"per material, every atom displaced {amplitude_A} A; energy 7net-0's of the undisplaced supercell "
        "+ 1/2 u Phi u (training.harmonic_frames)",
        "n_training_frames": len(splits["train"]),
        "n_training_materials": len({materials[i] for i in splits["train"]}),
        "early_stopping_materials": sorted(held_out),
        "settings": settings.model_dump(),
        "curves": run.curves,
        "cpu_seconds": round(run.seconds),
    }
    Path(run.model_path + PROVENANCE_SUFFIX).write_text(json.dumps(provenance, indent=2))
    return run
