"""The phonon-specialist route (``training.chgnet``) against an exact labeller: CHGNet fine-tuned on EMT force sets
of displaced Cu, Au and Cu3Au supercells predicts EMT's forces on a material it never saw (CuAu, L1_0) better than
the pretrained CHGNet does; the weights load through the registry with their provenance; a rerun resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.calculators.emt import EMT
from pymatgen.core import Lattice, Structure

from na_lattice_flows.phonons.references import (
    displaced_supercells,
    predict_forces,
    random_displacement_reference,
)


def emt_reference(structure: Structure, name: str, n_supercells: int = 6):
    """EMT forces on phonopy's random-displacement supercells (every atom 0.05 A), 2x2x2 of the cell."""
    calculator = EMT()
    return random_displacement_reference(
        structure,
        [[2, 0, 0], [0, 2, 0], [0, 0, 2]],
        lambda cells: predict_forces(cells, calculator),
        name=name,
        n_supercells=n_supercells,
        amplitude_A=0.05,
        seed=1,
    )


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def force_rmse(model: str, reference) -> float:
    from na_lattice_flows.models import get_calculator

    predicted = predict_forces(displaced_supercells(reference), get_calculator(model, device="cpu"))
    return float(np.sqrt(np.mean((predicted - reference.forces) ** 2)))


@pytest.fixture(scope="module")
def references():
    cu3au = Structure(
        Lattice.cubic(3.75),
        ["Au", "Cu", "Cu", "Cu"],
        [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    return [
        emt_reference(fcc("Cu", 3.61), "Cu"),
        emt_reference(fcc("Au", 4.08), "Au"),
        emt_reference(cu3au, "Cu3Au"),
    ]


@pytest.mark.slow  # ~1 min on 2 cores, as the SevenNet and UMA fine-tunes; `make test-all` runs it
def test_finetuned_chgnet_learns_emt_curvature_on_an_unseen_material(references, tmp_path):
    from na_lattice_flows.models import model_provenance
    from na_lattice_flows.training.chgnet import CHGNetFineTuneSettings, finetune_chgnet

    # L1_0, never trained on
    cuau = Structure(Lattice.tetragonal(2.80, 3.70), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    held_out = emt_reference(cuau, "CuAu")
    settings = CHGNetFineTuneSettings(
        epochs=6,
        learning_rate=3e-3,
        batch_size=2,
        max_frames_per_material=6,
        early_stopping_fraction=0.34,
    )
    model_file = tmp_path / "chgnet-emt.pth.tar"
    run = finetune_chgnet(
        settings,
        references,
        tmp_path / "run",
        model_file,
        {"functional": "EMT", "data": "EMT test labels"},
    )
    assert len(run.val_force_mae_eV_per_A) == 6
    # beats the start on held-out materials
    assert run.val_force_mae_eV_per_A[run.best_epoch] < run.start_model_val_force_mae_eV_per_A
    before, after = force_rmse("chgnet", held_out), force_rmse(f"chgnet:{model_file}", held_out)
    # on CuAu too, which neither training nor epoch choice saw (43 -> 31 meV/A)
    assert after < 0.85 * before, (
        before,
        after,
    )
    provenance = model_provenance(f"chgnet:{model_file}")
    # 3 materials x 6 frames, one material held out for the epoch choice
    assert provenance["n_training_frames"] + 6 == 18
    assert (
        provenance["functional"] == "EMT"
        and provenance["best_epoch"] == run.best_epoch
        and provenance["start_model"] == "CHGNet 0.3.0"
    )
    # a rerun resumes from the run folder: nothing left to train, the same choice
    again = finetune_chgnet(settings, references, tmp_path / "run", model_file)
    assert (
        again.val_force_mae_eV_per_A == run.val_force_mae_eV_per_A
        and again.best_epoch == run.best_epoch
    )
    assert (
        json.loads((tmp_path / "run" / "start_model_val_force_mae.json").read_text())
        == run.start_model_val_force_mae_eV_per_A
    )


def test_frames_are_drawn_per_material_reproducibly(references):
    from na_lattice_flows.training.chgnet import early_stopping_materials, sample_frames

    first = sample_frames(references, 2, seed=0)  # of 6 each
    assert len(first) == 6 and [f[2] for f in first] == ["Cu", "Cu", "Au", "Au", "Cu3Au", "Cu3Au"]
    # another order of the same references: the same frames each
    again = sample_frames(references[::-1], 2, seed=0)
    by_material = {f[2]: [np.asarray(g[1]) for g in again if g[2] == f[2]] for f in again}
    for frame in first:
        assert any(np.array_equal(frame[1], forces) for forces in by_material[frame[2]])
    assert early_stopping_materials(
        ["Cu", "Au", "Cu3Au"], 0.34, seed=0
    ) == early_stopping_materials(["Cu3Au", "Cu", "Au"], 0.34, seed=0)


def test_harmonic_frames_are_made_per_material_reproducibly(references):
    from na_lattice_flows.training.chgnet import sample_frames

    frames = sample_frames(references, 2, seed=0, harmonic_amplitude_A=0.03)
    assert [f[2] for f in frames] == ["Cu", "Cu", "Au", "Au", "Cu3Au", "Cu3Au"]
    # another order of the references: each material's frames unchanged
    again = {
        f[2]: f[1] for f in sample_frames(references[::-1], 2, seed=0, harmonic_amplitude_A=0.03)
    }
    assert np.array_equal(again["Cu"], frames[1][1])
    # the labels are the material's harmonic forces, not its force set's (every atom moved 0.03 A)
    cu3au = references[2]
    ideal = cu3au.to_phonopy().supercell.positions
    for structure, forces, _ in frames[4:]:
        moved = np.linalg.norm(structure.cart_coords - ideal, axis=1)
        assert np.allclose(moved, 0.03, atol=1e-6)
        assert not any(np.allclose(forces, f) for f in cu3au.forces)
