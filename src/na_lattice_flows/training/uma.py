"""Fine-tuning a fairchem UMA checkpoint on a dataset, the way fairchem's own UMA fine-tuning recipe does it: the
splits written to ASE databases (fairchem's ``write_ase_db``), the force RMS (the normaliser) and per-element
linear energy references fitted on the training split (fairchem's ``compute_normalizer_and_linear_reference``),
and a hydra config of fairchem's ``TrainEvalRunner`` that starts from the given checkpoint
(``initialize_finetuning_model``) with an energy/force/stress head on the ``omat`` task, run by the ``fairchem``
command. Its final ``inference_ckpt.pt`` becomes ``fairchem:<workdir>/model.pt`` in the registry.

The UMA weights are gated on the Hugging Face hub: the checkpoint is a file the user has (``uma-s-1p1.pt``).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError, MissingInputError
from na_lattice_flows.training.allegro import TrainingRun, console_script, run_logged

MODEL_FILE = "model.pt"
TASK = "omat"  # UMA's inorganic-materials task: the heads and the dataset embedding it selects


class UMAFineTuneSettings(BaseModel):
    """UMA fine-tuning settings (fairchem's trainer)."""

    checkpoint: str = Field(
        description="the UMA (or any fairchem inference) checkpoint to start from"
    )
    epochs: int = 20
    learning_rate: float = Field(
        4e-4, description="fairchem's UMA fine-tuning recipe: AdamW 4e-4, cosine decay"
    )
    max_atoms_per_batch: int = 350
    energy_coefficient: float = Field(
        20.0, description="loss weights: fairchem's recipe 20 (energy/atom), 2, 1"
    )
    force_coefficient: float = 2.0
    stress_coefficient: float = 1.0
    ema_decay: float | None = Field(
        0.99,
        description="evaluation and the saved model use an exponential moving average of the weights; fairchem's "
        "0.999 suits 10^5 steps, a fine-tune of a few hundred steps needs a shorter memory (None: no average)",
    )
    cutoff_radius_A: float = 6.0
    max_neighbors: int = 300
    device: str = Field("auto", description="cpu, cuda, or auto (cuda where the worker has a GPU)")
    seed: int = 0


def write_databases(splits: dict[str, str], folder: Path) -> dict[str, Path]:
    """Each split's extended XYZ as the ASE database fairchem's loaders read (its own writer)."""
    from fairchem.core.scripts.create_finetune_dataset import write_ase_db

    paths = {}
    for split in ("train", "val"):
        target = folder / split
        target.mkdir(parents=True, exist_ok=True)
        database = target / "data.0000.aselmdb"
        if database.exists():
            database.unlink()
        _, _, _, failed = write_ase_db((database, [splits[split]], 0))
        if failed:
            raise InputError(
                f"{splits[split]}: frames fairchem could not store: {'; '.join(failed[:3])}"
            )
        paths[split] = target
    return paths


def _task(
    name: str,
    level: str,
    dim: list[int],
    loss: str,
    coefficient: float,
    rmsd: float,
    extra: dict | None = None,
) -> dict:
    return {
        "_target_": "fairchem.core.units.mlip_unit.mlip_unit.Task",
        "name": name,
        "level": level,
        "property": name,
        "datasets": [TASK],
        "loss_fn": {
            "_target_": "fairchem.core.modules.loss.DDPMTLoss",
            "coefficient": coefficient,
            "loss_fn": {"_target_": f"fairchem.core.modules.loss.{loss}"},
        },
        "out_spec": {"dim": dim, "dtype": "float32"},
        "normalizer": {
            "_target_": "fairchem.core.modules.normalization.normalizer.Normalizer",
            "mean": 0.0,
            "rmsd": rmsd,
        },
        "metrics": ["mae"],
        **(extra or {}),
    }


def uma_config(
    settings: UMAFineTuneSettings,
    databases: dict[str, Path],
    force_rms: float,
    element_references: list[float],
    workdir: Path,
) -> dict:
    """fairchem's UMA fine-tuning recipe as one hydra config (its template's structure, our data and settings)."""
    references = {
        "_target_": "fairchem.core.modules.normalization.element_references.ElementReferences",
        "element_references": {"_target_": "torch.DoubleTensor", "_args_": [element_references]},
    }
    tasks = [
        _task(
            "energy",
            "system",
            [1],
            "PerAtomMAELoss",
            settings.energy_coefficient,
            force_rms,
            {"element_references": references},
        ),
        _task(
            "forces",
            "atom",
            [3],
            "L2NormLoss",
            settings.force_coefficient,
            force_rms,
            {"train_on_free_atoms": True, "eval_on_free_atoms": True},
        ),
        _task("stress", "system", [1, 9], "MAELoss", settings.stress_coefficient, force_rms),
    ]

    def dataset(split: str) -> dict:
        return {
            "splits": {split: {"src": str(databases[split])}},
            "format": "ase_db",
            "a2g_args": {"max_neigh": settings.max_neighbors, "radius": settings.cutoff_radius_A},
            "transforms": {
                "common_transform": {"dataset_name": TASK},
                "stress_reshape_transform": {"dataset_name": TASK},
            },
        }

    def loader(split: str, shuffle: bool) -> dict:
        return {
            "_target_": "fairchem.core.components.common.dataloader_builder.get_dataloader",
            "dataset": {
                "_target_": "fairchem.core.datasets.mt_concat_dataset.create_concat_dataset",
                "dataset_configs": {TASK: dataset(split)},
                "combined_dataset_config": {
                    "sampling": {"type": "temperature", "temperature": 1.0}
                },
            },
            "batch_sampler_fn": {
                "_target_": "fairchem.core.datasets.samplers.max_atom_distributed_sampler.MaxAtomDistributedBatchSampler",
                "_partial_": True,
                "max_atoms": settings.max_atoms_per_batch,
                "min_atoms": 0,
                "shuffle": shuffle,
                "seed": settings.seed,
            },
            "num_workers": 0,
            "collate_fn": {
                "_target_": "fairchem.core.units.mlip_unit.mlip_unit.mt_collater_adapter",
                "tasks": tasks,
            },
        }

    device = settings.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    job = {
        "device_type": device.upper(),
        "scheduler": {"mode": "LOCAL", "ranks_per_node": 1, "num_nodes": 1},
        "debug": True,
        "run_dir": str(workdir / "runs"),
        "run_name": "uma_finetune",
        "seed": settings.seed,
    }
    return {
        "job": job,
        "runner": {
            "_target_": "fairchem.core.components.train.train_runner.TrainEvalRunner",
            "train_dataloader": loader("train", True),
            "eval_dataloader": loader("val", False),
            "train_eval_unit": {
                "_target_": "fairchem.core.units.mlip_unit.mlip_unit.MLIPTrainEvalUnit",
                "job_config": "${job}",
                "tasks": tasks,
                "model": {
                    "_target_": "fairchem.core.units.mlip_unit.mlip_unit.initialize_finetuning_model",
                    "checkpoint_location": str(Path(settings.checkpoint).resolve()),
                    "overrides": {
                        "backbone": {
                            "max_neighbors": settings.max_neighbors,
                            "regress_stress": True,
                        },
                        "pass_through_head_outputs": True,
                    },
                    "heads": {"efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head"}},
                },
                "optimizer_fn": {
                    "_target_": "torch.optim.AdamW",
                    "_partial_": True,
                    "lr": settings.learning_rate,
                    "weight_decay": 1e-3,
                },
                "cosine_lr_scheduler_fn": {
                    "_target_": "fairchem.core.units.mlip_unit.mlip_unit._get_consine_lr_scheduler",
                    "_partial_": True,
                    "warmup_factor": 0.2,
                    "warmup_epochs": 0.01,
                    "lr_min_factor": 0.01,
                    "epochs": settings.epochs,
                    "steps": None,
                },
                "ema_decay": settings.ema_decay,
                "print_every": 1,
                "clip_grad_norm": 100,
            },
            "max_epochs": settings.epochs,
            "max_steps": None,
            "evaluate_every_n_steps": None,
            # only the final state is kept (checkpoints/final, with its inference_ckpt.pt)
            "callbacks": [
                {
                    "_target_": "fairchem.core.components.callbacks.TrainCheckpointCallback",
                    "checkpoint_every_n_steps": 10**9,
                    "max_saved_checkpoints": 1,
                }
            ],
        },
    }


def finetune_uma(
    settings: UMAFineTuneSettings, splits: dict[str, str], workdir: str | Path
) -> TrainingRun:
    """Fine-tune in ``workdir``; a finished run (its model file exists) is returned as it is."""
    import yaml
    from fairchem.core.scripts.create_finetune_dataset import (
        compute_normalizer_and_linear_reference,
    )

    if not Path(settings.checkpoint).is_file():
        raise MissingInputError(
            f"UMA checkpoint {settings.checkpoint} not found (the weights are gated: download them first)"
        )
    workdir = Path(workdir).resolve()
    model = workdir / MODEL_FILE
    start = time.perf_counter()
    if not model.is_file():
        workdir.mkdir(parents=True, exist_ok=True)
        databases = write_databases(splits, workdir / "databases")
        force_rms, element_references = compute_normalizer_and_linear_reference(
            databases["train"], 1
        )
        config = uma_config(settings, databases, float(force_rms), element_references, workdir)
        shutil.rmtree(workdir / "runs", ignore_errors=True)
        (workdir / "finetune.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        run_logged(
            [console_script("fairchem"), "-c", str(workdir / "finetune.yaml")],
            workdir / "train.log",
        )
        [final] = sorted((workdir / "runs").glob("*/checkpoints/final/inference_ckpt.pt"))
        shutil.copy(final, model)
    return TrainingRun(
        model_path=str(model),
        checkpoint_path=str(model),
        curves=read_learning_curve(workdir / "train.log"),
        seconds=time.perf_counter() - start,
    )


CURVE_KEYS = {  # ours -> fairchem's validation metric (per epoch, in its log)
    "val_loss": "val/loss",
    "val_force_mae_eV_per_A": f"val/{TASK}.val,forces,mae",
    "val_energy_mae_eV": f"val/{TASK}.val,energy,mae",
    "val_stress_mae_eV_per_A3": f"val/{TASK}.val,stress,mae",
}


def read_learning_curve(log: Path) -> dict[str, list[float | None]]:
    """Per-epoch validation loss and MAEs, from the metric blocks fairchem logs after each evaluation."""
    curves: dict[str, list[float | None]] = {"epoch": [], **{name: [] for name in CURVE_KEYS}}
    if not log.is_file():
        return curves
    for number, block in enumerate(
        log.read_text().split("Finished aggregating metrics:")[1:], start=1
    ):
        values = dict(re.findall(r"^\s+(val/\S+): ([-\d.eE+]+|nan)$", block, flags=re.MULTILINE))
        curves["epoch"].append(float(number))
        for name, key in CURVE_KEYS.items():
            curves[name].append(float(values[key]) if key in values else None)
    return curves
