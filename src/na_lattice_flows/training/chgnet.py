"""A sodium phonon specialist: CHGNet fine-tuned on DFT force sets of displaced supercells (phononDB: VASP PBEsol,
finite displacements of 0.01 A), with CHGNet's own ``Trainer``.

Universal potentials under-estimate phonon frequencies systematically ("softening"), so their harmonic screen
calls stable crystals unstable. The force sets of phononDB are exactly the data the screen's force constants are
fitted to, so a few of them per material teach the curvature directly. Only forces are learnt: the archives carry
no energies, so the energy loss is switched off (its labels are placeholders) and CHGNet's per-element reference
energies stay frozen, as they are in CHGNet's fine-tuning by default; forces are the energy's gradient, so the
landscape near equilibrium is what changes.

Runs resume: the trainer's state is saved every epoch in the run folder and a rerun continues from the last one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError
from na_lattice_flows.phonons.references import DisplacementReference, displaced_supercells
from na_lattice_flows.training.harmonic_frames import harmonic_reference, material_seed

PHONONDB_DATA = {
    "data": "phononDB (A. Togo, 2018-04-17 release, CC BY 4.0; via the WMD-group/phononDB mirror): VASP force sets of "
    "finite displacements (0.01 A)",
    "functional": "PBEsol (VASP): the labels' functional; the start model is PBE/PBE+U (MPtrj)",
}


class CHGNetFineTuneSettings(BaseModel):
    """CHGNet fine-tuning settings (its own trainer)."""

    start_model: str = Field(
        "0.3.0", description="CHGNet weights to start from (a packaged version)"
    )
    epochs: int = Field(3, ge=1, description="passes over the training frames")
    learning_rate: float = Field(
        1e-3, gt=0, description="Adam, cosine-decayed over the epochs (CHGNet's default scheduler)"
    )
    batch_size: int = Field(8, ge=1)
    max_frames_per_material: int = Field(
        2,
        ge=1,
        description="displaced supercells drawn (or, harmonic, made) per material (seeded): "
        "~1 s and ~10 MB of cached graph each for a 100-atom supercell on one CPU thread",
    )
    frames: Literal["force-set", "harmonic"] = Field(
        "force-set",
        description="force-set: the archive's own displaced supercells and DFT forces; harmonic: supercells "
        "with every atom displaced by harmonic_amplitude_A, labelled with the harmonic forces of the "
        "archive's DFT force constants (training.harmonic_frames: the whole curvature in every frame)",
    )
    harmonic_amplitude_A: float = Field(
        0.03, gt=0, description="displacement of each atom in harmonic frames (the screen's 0.03 A)"
    )
    early_stopping_fraction: float = Field(
        0.1, gt=0, lt=1, description="training materials held out to pick the epoch"
    )
    seed: int = Field(0, ge=0)


class FineTuneRun(BaseModel):
    """What a fine-tune produced: the weights file, the epoch chosen, the curves and the provenance written."""

    model_file: str
    best_epoch: int
    start_model_val_force_mae_eV_per_A: float
    val_force_mae_eV_per_A: list[float]
    train_force_mae_eV_per_A: list[float]
    seconds: float
    provenance: dict


def sample_frames(
    references: Iterable[DisplacementReference],
    max_per_material: int,
    seed: int,
    harmonic_amplitude_A: float | None = None,
) -> list[tuple]:
    """(structure, forces eV/A, material) of up to ``max_per_material`` displaced supercells of each reference,
    drawn without replacement by a generator seeded per material (so adding references never changes others);
    with ``harmonic_amplitude_A``, ``max_per_material`` harmonic frames of each (``harmonic_reference``) instead.
    ``references`` is read once: a generator keeps only one archive in memory at a time."""
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for reference in references:
        rng = np.random.default_rng([seed, *reference.name.encode()])
        if harmonic_amplitude_A is not None:
            reference = harmonic_reference(
                reference,
                max_per_material,
                harmonic_amplitude_A,
                material_seed(seed, reference.name),
            )
        supercells, forces = displaced_supercells(reference), reference.forces
        picked = sorted(
            rng.choice(len(supercells), size=min(max_per_material, len(supercells)), replace=False)
        )
        formula = reference.unitcell.composition.reduced_formula
        frames += [
            (AseAtomsAdaptor.get_structure(supercells[i]), forces[i], formula) for i in picked
        ]
    return frames


def early_stopping_materials(materials: Sequence[str], fraction: float, seed: int) -> set[str]:
    """The training materials held out to choose the epoch (at least one)."""
    unique = sorted(set(materials))
    rng = np.random.default_rng(seed)
    return set(rng.permutation(unique)[: max(1, round(fraction * len(unique)))].tolist())


def force_mae(model, frames: Sequence[tuple]) -> float:
    """Mean absolute force error (eV/A, over components) of a CHGNet model on (structure, forces, _) frames."""
    predictions = model.predict_structure([f[0] for f in frames], task="ef", batch_size=4)
    errors = [
        np.abs(np.asarray(p["f"]) - np.asarray(f[1])).ravel()
        for p, f in zip(predictions, frames, strict=True)
    ]
    return float(np.mean(np.concatenate(errors)))


def _dataset(frames: Sequence[tuple]):
    from chgnet.data.dataset import StructureData

    structures = [f[0] for f in frames]
    # energies are not in the data and not learnt (energy_loss_ratio=0): zeros stand in for them
    return StructureData(
        structures, [0.0] * len(structures), [np.asarray(f[1]) for f in frames], shuffle=True
    )


def finetune_chgnet(
    settings: CHGNetFineTuneSettings,
    references: Iterable[DisplacementReference],
    run_dir: str | Path,
    model_file: str | Path,
    data_description: dict | None = None,
) -> FineTuneRun:
    """Fine-tune CHGNet on the force sets of ``references`` (one material each; a share of the materials held out to
    choose the epoch by force MAE), write the chosen weights to ``model_file`` (loadable by ``CHGNet.from_file``,
    registry name ``chgnet:<model_file>``) with its provenance beside it (``data_description``: where the labels
    come from, their functional, the split; e.g. ``PHONONDB_DATA``)."""
    import torch
    from chgnet.data.dataset import get_loader
    from chgnet.model import CHGNet
    from chgnet.trainer import Trainer

    from na_lattice_flows.models import PROVENANCE_SUFFIX

    start = time.perf_counter()
    run_dir, model_file = Path(run_dir), Path(model_file)
    run_dir.mkdir(parents=True, exist_ok=True)
    frames = sample_frames(
        references,
        settings.max_frames_per_material,
        settings.seed,
        settings.harmonic_amplitude_A if settings.frames == "harmonic" else None,
    )
    held_out = early_stopping_materials(
        [f[2] for f in frames], settings.early_stopping_fraction, settings.seed
    )
    train = [f for f in frames if f[2] not in held_out]
    val = [f for f in frames if f[2] in held_out]
    if not train or not val:
        raise InputError(
            f"fine-tuning needs materials on both sides: {len(train)} training and {len(val)} held-out frames"
        )
    torch.manual_seed(settings.seed)
    loaders = [get_loader(_dataset(part), batch_size=settings.batch_size) for part in (train, val)]
    baseline_file = run_dir / "start_model_val_force_mae.json"
    checkpoints = sorted(run_dir.glob("epoch*.pth.tar"))
    if checkpoints:  # resume where the last run stopped
        trainer = Trainer.load(str(checkpoints[-1]))
        trainer.epochs = settings.epochs
    else:
        start_model = CHGNet.load(model_name=settings.start_model, use_device="cpu", verbose=False)
        # on the held-out frames: what the epochs must beat
        baseline_file.write_text(json.dumps(force_mae(start_model, val)))
        trainer = Trainer(
            start_model,
            targets="ef",
            energy_loss_ratio=0.0,
            force_loss_ratio=1.0,
            epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            torch_seed=settings.seed,
            data_seed=settings.seed,
            use_device="cpu",
            print_freq=10_000,
        )
    start_mae = json.loads(baseline_file.read_text())
    trainer.train(*loaders, save_dir=str(run_dir))
    val_curve = [float(v) for v in trainer.training_history["f"]["val"]]
    best_epoch = int(np.argmin(val_curve))
    [best] = list(run_dir.glob("bestF_*.pth.tar"))
    model = CHGNet.from_file(str(best))
    model_file.parent.mkdir(parents=True, exist_ok=True)
    # the weights only: what CHGNet.from_file reads
    torch.save({"model": model.as_dict()}, model_file)
    provenance = {
        "route": f"chgnet fine-tune (chgnet.trainer.Trainer, forces only; {settings.frames} frames)",
        "start_model": f"CHGNet {settings.start_model}",
        **(data_description or {}),  # what the labels are: data, functional, archives, split
        "n_training_frames": len(train),
        "n_training_materials": len({f[2] for f in train}),
        "early_stopping_materials": sorted(held_out),
        "settings": settings.model_dump(),
        "best_epoch": best_epoch,
        "val_force_mae_eV_per_A": val_curve,
        "start_model_val_force_mae_eV_per_A": start_mae,
        "cpu_seconds": round(time.perf_counter() - start),
    }
    Path(str(model_file) + PROVENANCE_SUFFIX).write_text(json.dumps(provenance, indent=2))
    return FineTuneRun(
        model_file=str(model_file),
        best_epoch=best_epoch,
        start_model_val_force_mae_eV_per_A=start_mae,
        val_force_mae_eV_per_A=val_curve,
        train_force_mae_eV_per_A=[float(v) for v in trainer.training_history["f"]["train"]],
        seconds=time.perf_counter() - start,
        provenance=provenance,
    )
