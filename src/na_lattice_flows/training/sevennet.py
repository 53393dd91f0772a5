"""Fine-tuning SevenNet-0 (``sevenn``) on a dataset: SevenNet's own ``fine_tune`` preset (the 7net-0
architecture, Huber loss, stress weight 0.01, Adam with exponential decay), continued from the pretrained
checkpoint with our train/val splits, run by the ``sevenn`` command; the best checkpoint (lowest validation
loss) becomes ``sevennet:<workdir>/checkpoint_best.pth`` in the registry.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from pydantic import BaseModel, Field

from na_lattice_flows.training.allegro import TrainingRun, console_script, run_logged

BEST_CHECKPOINT = "checkpoint_best.pth"
PRETRAINED_CHECKPOINT = "SevenNet-0_11July2024"  # the name sevenn gives 7net-0's shipped weights


class SevenNetFineTuneSettings(BaseModel):
    epochs: int = Field(100, description="the preset: 100")
    learning_rate: float = Field(0.004, description="the preset: 0.004, decaying by 0.99 per epoch")
    batch_size: int = 4
    force_weight: float = 1.0
    stress_weight: float = Field(0.01, description="the preset: 0.01 (0: not trained on stress)")
    seed: int = 1
    train_shift_scale: bool = Field(
        True, description="let the per-element energy shift and scale adapt (the preset keeps them): labels from another "
        "code (GPAW's energies are relative to its atomic references) sit a constant per atom away from 7net-0's"
    )


def sevennet_config(settings: SevenNetFineTuneSettings, splits: dict[str, str]) -> dict:
    """SevenNet's fine_tune preset with our data, epochs and weights."""
    from importlib.resources import files

    import yaml

    config = yaml.safe_load(files("sevenn").joinpath("presets/fine_tune.yaml").read_text())
    config["model"]["train_shift_scale"] = settings.train_shift_scale
    train = config["train"]
    train.update(random_seed=settings.seed, epoch=settings.epochs, force_loss_weight=settings.force_weight,
                 stress_loss_weight=settings.stress_weight, is_train_stress=settings.stress_weight > 0,
                 per_epoch=max(settings.epochs, 1))  # fmt: skip
    train["optim_param"]["lr"] = settings.learning_rate
    train["continue"]["checkpoint"] = PRETRAINED_CHECKPOINT
    data = config["data"]
    data.update(batch_size=settings.batch_size, load_trainset_path=[splits["train"]], load_validset_path=[splits["val"]])
    data.pop("load_testset_path", None)  # the test split is evaluated by us, with the other models
    data.pop("data_divide_ratio", None)
    return config


def finetune_sevennet(settings: SevenNetFineTuneSettings, splits: dict[str, str], workdir: str | Path) -> TrainingRun:
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
        (workdir / "input.yaml").write_text(yaml.safe_dump(sevennet_config(settings, splits), sort_keys=False))
        run_logged([console_script("sevenn"), str(workdir / "input.yaml"), "-w", str(workdir)], workdir / "train.log")
        (workdir / "done").touch()
    return TrainingRun(model_path=str(best), checkpoint_path=str(best), curves=read_learning_curve(workdir / "lc.csv"),
                       seconds=time.perf_counter() - start)  # fmt: skip


CURVE_COLUMNS = {
    "train_loss": "trainset_TotalLoss",
    "val_force_rmse_eV_per_A": "validset_Force_RMSE",
    "val_energy_rmse_eV_per_atom": "validset_Energy_RMSE",
    "val_stress_rmse_eV_per_A3": "validset_Stress_RMSE",
}


def read_learning_curve(path: Path) -> dict[str, list[float | None]]:
    """Per-epoch loss and validation RMSEs from sevenn's ``lc.csv`` (its stress column is in kbar: converted)."""
    from ase import units

    curves: dict[str, list[float | None]] = {"epoch": [], **{name: [] for name in CURVE_COLUMNS}}
    if not path.is_file():
        return curves
    with path.open() as handle:
        for row in csv.DictReader(handle):
            curves["epoch"].append(float(row["epoch"]))
            for name, column in CURVE_COLUMNS.items():
                value = row.get(column)
                scale = 0.1 * units.GPa if name.startswith("val_stress") else 1.0  # kbar -> eV/A^3
                curves[name].append(float(value) * scale if value not in (None, "") else None)
    return curves
