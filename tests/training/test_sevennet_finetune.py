"""SevenNet-0 fine-tuned on EMT-labelled copper (EMT, ASE's effective-medium potential, is the exact "DFT"
here): on configurations it never saw, the fine-tuned model's forces are closer to EMT than the pretrained
model's by a stated factor, its reported RMSE is numpy's on the same frames, and it loads through the registry."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from na_lattice_flows.training.dataset import label_frames, split_by_group, write_splits
from na_lattice_flows.training.sevennet import SevenNetFineTuneSettings

pytestmark = pytest.mark.slow  # ~3 min on 2 free cores


def emt_copper_frames():
    """Six configurations (lattice constants 3.50-3.75 A), 12 rattled 4-atom cells each, EMT labels."""
    frames = []
    for a in np.linspace(3.50, 3.75, 6):
        for index in range(12):
            atoms = bulk("Cu", "fcc", a=a, cubic=True)
            atoms.rattle(0.04 + 0.01 * index, seed=index)
            atoms.info.update(configuration=f"a{a:.2f}")
            frames.append(atoms)
    return label_frames(frames, EMT(), "emt", progress=False)


def test_finetuned_sevennet_learns_emt_copper(tmp_path):
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from na_lattice_flows.models import get_calculator, model_provenance
    from na_lattice_flows.training.jobs import SevenNetFineTuneMaker
    from na_lattice_flows.training.schemas import DatasetDocument

    frames = emt_copper_frames()
    splits = split_by_group([f.info["configuration"] for f in frames], (4 / 6, 1 / 6, 1 / 6), seed=0)
    write_splits(frames, splits, tmp_path / "dataset")
    dataset = DatasetDocument.from_folder(tmp_path / "dataset")
    fit = SevenNetFineTuneMaker(settings=SevenNetFineTuneSettings(epochs=6, batch_size=4), workdir=str(tmp_path / "model")).make(dataset)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(fit, store=store, create_folders=True, root_dir=tmp_path / "runs", ensure_success=True)
    document = store.query_one({"uuid": fit.uuid}, load=True)["output"]
    model = document["model"]
    assert model.startswith("sevennet:") and model.endswith("checkpoint_best.pth")
    metrics = document["test"]["models"]
    print({name: m["force_rmse_meV_per_A"] for name, m in metrics.items()}, document["curves"]["val_force_rmse_eV_per_A"])
    assert metrics[model]["force_rmse_meV_per_A"] < 0.5 * metrics["7net-0"]["force_rmse_meV_per_A"]

    test_frames = [frames[i] for i in splits["test"]]
    calculator = get_calculator(model, device="cpu")
    differences = []
    for frame in test_frames:
        atoms = frame.copy()
        atoms.calc = calculator
        differences.append(atoms.get_forces() - frame.get_forces())
    assert metrics[model]["force_rmse_meV_per_A"] == pytest.approx(1e3 * np.sqrt(np.mean(np.square(differences))), rel=1e-4)
    assert model_provenance(model)["route"] == "sevennet" and len(document["curves"]["epoch"]) == 6
