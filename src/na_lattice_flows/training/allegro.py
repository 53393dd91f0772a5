"""Allegro from scratch with the NequIP framework (``nequip`` 0.19, ``nequip-allegro`` 0.8): the config this
product writes, the ``nequip-train`` run (restartable from its last checkpoint), the packaged model and the
training curves.

Defaults are the doped-electrolyte study's (Klarbring & Walsh): 6.5 A cutoff, 2 layers, 32 tensor features,
l_max 2; the loss weighs per-atom energy, forces and stress (MSE, coefficients in ``AllegroSettings``). The
model is packaged (``nequip-package``: a portable ``.nequip.zip`` that loads on CPU or GPU) rather than
compiled: TorchScript export is gone in torch >= 2.10 and AOTInductor artifacts are built for one device (a
user can still compile for their GPU and pass the ``.nequip.pt2``; the registry loads both).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from pydantic import BaseModel, Field

MODEL_FILE = "model.nequip.zip"


class AllegroSettings(BaseModel):
    """An Allegro (nequip) fit's settings; defaults are the study's."""

    r_max_A: float = Field(6.5, description="Cutoff radius (the study: 6.5 A)")
    num_layers: int = Field(2, description="Allegro layers (the study: 2)")
    num_tensor_features: int = Field(32, description="Tensor-track multiplicity (the study: 32)")
    l_max: int = Field(2, description="Highest spherical-harmonic order (the study: 2)")
    num_scalar_features: int = 64
    mlp_width: int = Field(64, description="Hidden width of the two-body, latent and readout MLPs")
    num_bessels: int = 8
    max_epochs: int = 200
    batch_size: int = 4
    learning_rate: float = 1e-3
    energy_weight: float = Field(1.0, description="Loss weight of the per-atom energy MSE")
    force_weight: float = Field(1.0, description="Loss weight of the force MSE")
    stress_weight: float = Field(
        1.0, description="Loss weight of the stress MSE (0: not trained on stress)"
    )
    seed: int = 0
    model_dtype: str = "float32"


def allegro_config(
    settings: AllegroSettings, splits: dict[str, str], type_names: list[str]
) -> dict:
    """The nequip-train config (a dict for YAML) for ``splits`` (train/val/test extended XYZ paths)."""
    use_stress = settings.stress_weight > 0
    loss_coeffs = {"total_energy": settings.energy_weight, "forces": settings.force_weight}
    metric_coeffs = {
        "per_atom_energy_rmse": settings.energy_weight,
        "forces_rmse": settings.force_weight,
    }
    if use_stress:
        loss_coeffs["stress"] = settings.stress_weight
        metric_coeffs["stress_rmse"] = settings.stress_weight
    loader = {"_target_": "torch.utils.data.DataLoader", "batch_size": settings.batch_size}
    metrics_class = "EnergyForceStressMetrics" if use_stress else "EnergyForceMetrics"
    return {
        "run": ["train", "test"] if "test" in splits else ["train"],
        "data": {
            "_target_": "nequip.data.datamodule.ASEDataModule",
            "seed": settings.seed,
            "train_file_path": splits["train"],
            "val_file_path": splits["val"],
            **({"test_file_path": splits["test"]} if "test" in splits else {}),
            "transforms": [
                {
                    "_target_": "nequip.data.transforms.NeighborListTransform",
                    "r_max": settings.r_max_A,
                },
                {
                    "_target_": "nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper",
                    "model_type_names": type_names,
                    "chemical_species_to_atom_type_map": {name: name for name in type_names},
                },
            ],
            "train_dataloader": {**loader, "shuffle": True},
            "val_dataloader": loader,
            "test_dataloader": loader,
            "stats_manager": {
                "_target_": "nequip.data.CommonDataStatisticsManager",
                "type_names": type_names,
            },
        },
        "trainer": {
            "_target_": "lightning.Trainer",
            "max_epochs": settings.max_epochs,
            "check_val_every_n_epoch": 1,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
            "logger": {
                "_target_": "lightning.pytorch.loggers.CSVLogger",
                "save_dir": "${hydra:runtime.output_dir}",
                "name": "log",
            },
            "callbacks": [
                {
                    "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "dirpath": "${hydra:runtime.output_dir}",
                    "filename": "best",
                    "monitor": "val0_epoch/weighted_sum",
                    "mode": "min",
                    "save_last": True,
                },
            ],
        },
        "training_module": {
            "_target_": "nequip.train.EMALightningModule",
            "loss": {
                "_target_": f"nequip.train.{'EnergyForceStressLoss' if use_stress else 'EnergyForceLoss'}",
                "per_atom_energy": True,
                "coeffs": loss_coeffs,
            },
            "val_metrics": {"_target_": f"nequip.train.{metrics_class}", "coeffs": metric_coeffs},
            "test_metrics": {"_target_": f"nequip.train.{metrics_class}", "coeffs": metric_coeffs},
            "optimizer": {"_target_": "torch.optim.Adam", "lr": settings.learning_rate},
            "model": {
                "_target_": "allegro.model.AllegroModel",
                "seed": settings.seed,
                "model_dtype": settings.model_dtype,
                "type_names": type_names,
                "r_max": settings.r_max_A,
                "radial_chemical_embed": {
                    "_target_": "allegro.nn.TwoBodyBesselScalarEmbed",
                    "num_bessels": settings.num_bessels,
                },
                "radial_chemical_embed_dim": settings.num_scalar_features,
                "scalar_embed_mlp_hidden_layers_depth": 1,
                "scalar_embed_mlp_hidden_layers_width": settings.mlp_width,
                "l_max": settings.l_max,
                "num_layers": settings.num_layers,
                "num_scalar_features": settings.num_scalar_features,
                "num_tensor_features": settings.num_tensor_features,
                "allegro_mlp_hidden_layers_depth": 1,
                "allegro_mlp_hidden_layers_width": settings.mlp_width,
                "readout_mlp_hidden_layers_depth": 1,
                "readout_mlp_hidden_layers_width": settings.mlp_width,
                "avg_num_neighbors": "${training_data_stats:num_neighbors_mean}",
                "per_type_energy_shifts": "${training_data_stats:per_atom_energy_mean}",
                "per_type_energy_scales": "${training_data_stats:forces_rms}",
                "per_type_energy_scales_trainable": False,
                "per_type_energy_shifts_trainable": False,
            },
        },
        "global_options": {"allow_tf32": False},
    }


class TrainingRun(BaseModel):
    """What a training run leaves: the model file, the per-epoch curves and the wall time."""

    model_path: str
    checkpoint_path: str
    curves: dict[str, list[float | None]] = Field(
        description="epoch, train loss, validation RMSEs per epoch"
    )
    seconds: float
    resumed: bool = Field(False, description="continued from the last checkpoint of a killed run")


def train_allegro(
    settings: AllegroSettings, splits: dict[str, str], type_names: list[str], workdir: str | Path
) -> TrainingRun:
    """Train (or continue a killed run from ``<workdir>/run/last.ckpt``), then package the best checkpoint as
    ``<workdir>/model.nequip.zip``. A finished run (the package exists) is returned as it is."""
    import yaml

    workdir = Path(workdir).resolve()
    run_dir = workdir / "run"
    model_path = workdir / MODEL_FILE
    start = time.perf_counter()
    last = run_dir / "last.ckpt"
    resumed = last.is_file() and not model_path.is_file()
    if not model_path.is_file():
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(
            yaml.safe_dump(allegro_config(settings, splits, type_names), sort_keys=False)
        )
        command = [
            console_script("nequip-train"),
            "-cp",
            str(workdir),
            "-cn",
            "config",
            f"hydra.run.dir={run_dir}",
        ]
        if resumed:
            command.append(f"++ckpt_path={last}")
        run_logged(command, workdir / "train.log")
        run_logged(
            [
                console_script("nequip-package"),
                "build",
                str(run_dir / "best.ckpt"),
                str(model_path),
            ],
            workdir / "package.log",
        )
    return TrainingRun(
        model_path=str(model_path),
        checkpoint_path=str(run_dir / "best.ckpt"),
        curves=read_curves(run_dir),
        seconds=time.perf_counter() - start,
        resumed=resumed,
    )


def console_script(name: str) -> str:
    """The console script of this environment (a worker's PATH may not include the venv's bin)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.is_file() else name


def run_logged(command: list[str], log: Path) -> None:
    """Run ``command`` with its output appended to ``log``; a failure names the log."""
    with log.open("a") as handle:
        completed = subprocess.run(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
            env={**os.environ, "HYDRA_FULL_ERROR": "1"},
        )
    if completed.returncode != 0:
        tail = log.read_text()[-2000:]
        raise RuntimeError(
            f"{Path(command[0]).name} failed (exit {completed.returncode}); the end of {log}:\n{tail}"
        )


CURVE_COLUMNS = {
    "train_loss": "train_loss_epoch/weighted_sum",
    "val_force_rmse_eV_per_A": "val0_epoch/forces_rmse",
    "val_energy_rmse_eV_per_atom": "val0_epoch/per_atom_energy_rmse",
    "val_stress_rmse_eV_per_A3": "val0_epoch/stress_rmse",
}


def read_curves(run_dir: Path) -> dict[str, list[float | None]]:
    """Per-epoch training loss and validation RMSEs from Lightning's CSV logs (every version: a resumed run
    logs a new one), one row per epoch."""
    by_epoch: dict[int, dict[str, float]] = {}
    for path in sorted((run_dir / "log").glob("version_*/metrics.csv")):
        with path.open() as handle:
            for row in csv.DictReader(handle):
                epoch = by_epoch.setdefault(int(row["epoch"]), {})
                for name, column in CURVE_COLUMNS.items():
                    if row.get(column):
                        epoch[name] = float(row[column])
    # the test pass logs a row without these
    epochs = sorted(e for e, values in by_epoch.items() if values)
    curves: dict[str, list[float | None]] = {"epoch": [float(e) for e in epochs]}
    for name in CURVE_COLUMNS:
        curves[name] = [by_epoch[e].get(name) for e in epochs]
    return curves
