"""The training route end to end with an exact labeller: EMT (ASE's effective-medium potential) is the "DFT" of
Cu3Au. MD of five configurations at two temperatures, farthest-point selection, EMT labels, a split by
configuration, a small Allegro fitted to it; then the trained model through the registry: the same forces as
nequip's own calculator, the test RMSE equal to numpy's on the held-out frames and to nequip's own test metric,
MD and phonons with it."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.training.allegro import AllegroSettings

# ~2 min on 2 free cores (the fit); the fast checks of the route are in test_selection_and_splits
pytestmark = pytest.mark.slow

TINY_ALLEGRO = AllegroSettings(
    r_max_A=4.5,
    num_layers=1,
    num_tensor_features=8,
    l_max=1,
    num_scalar_features=16,
    mlp_width=32,
    max_epochs=40,
    batch_size=4,
    learning_rate=0.005,
    seed=1,
)


def configurations() -> dict:
    """Cu3Au: the ordered L1_2 cell and four random arrangements of the same composition (32 atoms)."""
    cells = {}
    for index in range(5):
        atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))
        gold = (
            np.arange(0, 32, 4)
            if index == 0
            else np.random.default_rng(index).choice(32, 8, replace=False)
        )
        atoms.symbols[gold] = "Au"
        cells["L12" if index == 0 else f"random{index}"] = AseAtomsAdaptor.get_structure(atoms)
    return cells


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from na_lattice_flows.training import jobs
    from na_lattice_flows.training.jobs import AllegroFitMaker, TrainingSetMaker

    root = tmp_path_factory.mktemp("training")
    patch = pytest.MonkeyPatch()
    # the MD driver: EMT too, so the test spends no time on an MLP
    patch.setattr(jobs, "get_calculator", lambda name: EMT())
    md = {
        "n_equilibration_steps": 20,
        "n_production_steps": 200,
        "frame_interval_steps": 10,
        "timestep_fs": 2.0,
        "checkpoint_interval_steps": 100,
    }
    maker = TrainingSetMaker(
        model="emt-driver",
        temperatures_K=(300.0, 1200.0),
        md_overrides=md,
        n_select=80,
        labeller="emt",
        n_label_jobs=2,
        fractions=(0.6, 0.2, 0.2),
        trajectory_dir=str(root / "traj"),
        dataset_dir=str(root / "dataset"),
    )
    dataset_flow = maker.make(configurations())
    fit = AllegroFitMaker(
        settings=TINY_ALLEGRO, workdir=str(root / "model"), baseline_models=()
    ).make(dataset_flow.output)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    from jobflow import Flow

    run_locally(
        Flow([dataset_flow, fit]),
        store=store,
        create_folders=True,
        root_dir=root / "runs",
        ensure_success=True,
    )
    patch.undo()
    dataset = store.query_one({"uuid": dataset_flow.output.uuid}, load=True)["output"]
    document = store.query_one({"uuid": fit.uuid}, load=True)["output"]
    return dataset, document


def test_the_dataset_is_split_by_configuration_and_carries_its_provenance(trained):
    from ase.io import read

    dataset, _ = trained
    sides = [set(dataset["groups"][name]) for name in ("train", "val", "test")]
    assert sum(len(s) for s in sides) == 5 and not (
        sides[0] & sides[1] | sides[0] & sides[2] | sides[1] & sides[2]
    )
    assert (
        dataset["n_frames"]["train"] + dataset["n_frames"]["val"] + dataset["n_frames"]["test"]
        == 80
    )
    test_frames = read(dataset["split_paths"]["test"], ":")
    assert {atoms.info["configuration"] for atoms in test_frames} == sides[2]
    assert {atoms.info["temperature_K"] for atoms in test_frames} == {
        300.0,
        1200.0,
    }  # both temperatures sampled
    frame = test_frames[0]
    reference = frame.copy()
    reference.calc = EMT()
    # the labels are EMT's
    np.testing.assert_allclose(frame.get_forces(), reference.get_forces(), atol=1e-6)
    assert dataset["labellers"] == ["emt"] and dataset["elements"] == ["Au", "Cu"]


def test_the_trained_allegro_learns_emt_and_its_reported_rmse_is_numpys(trained):
    """Held-out configuration: force RMSE below a quarter of the forces' own RMS (the error of a model that
    predicts nothing), and four times lower than after the first epoch."""
    from ase.io import read

    from na_lattice_flows.models import get_calculator

    dataset, document = trained
    model = document["model"]
    assert model.startswith("allegro:") and model.endswith("model.nequip.zip")
    test_frames = read(dataset["split_paths"]["test"], ":")
    calculator = get_calculator(model, device="cpu")
    differences, references = [], []
    for frame in test_frames:
        atoms = frame.copy()
        atoms.calc = calculator
        differences.append(atoms.get_forces() - frame.get_forces())
        references.append(frame.get_forces())
    rmse = float(np.sqrt(np.mean(np.square(differences))))
    metrics = document["test"]["models"][model]
    assert metrics["force_rmse_meV_per_A"] == pytest.approx(1e3 * rmse, rel=1e-4)
    assert rmse < 0.25 * float(np.sqrt(np.mean(np.square(references))))
    curves = document["curves"]
    assert len(curves["epoch"]) == TINY_ALLEGRO.max_epochs
    print("validation force RMSE per epoch", curves["val_force_rmse_eV_per_A"], "test", rmse)
    assert min(curves["val_force_rmse_eV_per_A"]) < curves["val_force_rmse_eV_per_A"][0] / 4
    assert (
        metrics["energy_rmse_meV_per_atom"] is not None and metrics["stress_rmse_GPa"] is not None
    )


def test_the_trained_model_is_a_registry_entry_with_provenance_that_runs_md_and_phonons(
    trained, tmp_path
):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from na_lattice_flows.md.langevin import run_langevin_md
    from na_lattice_flows.md.settings import MDSettings
    from na_lattice_flows.md.trajectory import read_trajectory
    from na_lattice_flows.models import get_calculator, model_provenance, resolve_model

    dataset, document = trained
    model = document["model"]
    assert resolve_model(model).family == "allegro"
    provenance = model_provenance(model)
    assert (
        provenance["dataset_folder"] == dataset["folder"]
        and provenance["groups"] == dataset["groups"]
    )
    assert provenance["test_force_rmse_meV_per_A"] == pytest.approx(
        document["test"]["models"][model]["force_rmse_meV_per_A"]
    )
    assert model_provenance("7net-0") is None

    import torch

    calculator = get_calculator(model, device="cpu")
    # loading it leaves the process's default alone ...
    assert torch.get_default_dtype() == torch.float32
    probe = AseAtomsAdaptor.get_atoms(configurations()["random1"])
    probe.calc = get_calculator("chgnet", device="cpu")
    assert np.isfinite(
        probe.get_forces()
    ).all()  # ... so the pretrained models still run in the same worker
    atoms = AseAtomsAdaptor.get_atoms(configurations()["L12"])
    settings = MDSettings(
        temperature_K=300,
        timestep_fs=2.0,
        n_equilibration_steps=5,
        n_production_steps=20,
        frame_interval_steps=5,
    )
    path = run_langevin_md(atoms, calculator, settings, tmp_path / "md.h5", progress=False)
    assert read_trajectory(path).n_frames == 5
    from na_lattice_flows.relax.jobs import MLPRelaxMaker

    relax = MLPRelaxMaker(model=model, steps=20).make(configurations()["L12"])
    relaxed = run_locally(
        relax, create_folders=True, root_dir=tmp_path / "relax", ensure_success=True
    )[relax.uuid][1].output
    # every document made with the model records where it came from
    assert relaxed.model_provenance == provenance

    unit = bulk("Cu", "fcc", a=3.75, cubic=True)
    unit.symbols[0] = "Au"
    cell = PhonopyAtoms(
        symbols=unit.get_chemical_symbols(),
        cell=unit.cell.array,
        scaled_positions=unit.get_scaled_positions(),
    )
    frequencies = {}
    for name, calc in (("allegro", calculator), ("emt", EMT())):
        phonon = Phonopy(cell, supercell_matrix=np.eye(3) * 2)
        phonon.generate_displacements(distance=0.02)
        forces = []
        for displaced in phonon.supercells_with_displacements:
            work = unit.__class__(
                displaced.symbols,
                cell=displaced.cell,
                scaled_positions=displaced.scaled_positions,
                pbc=True,
            )
            work.calc = calc
            forces.append(work.get_forces())
        phonon.forces = forces
        phonon.produce_force_constants()
        phonon.symmetrize_force_constants()
        frequencies[name] = phonon.get_frequencies([0.5, 0.5, 0.5])
    # the L1_2 zone-boundary spectrum of the trained model follows EMT's (a small model, 40 epochs: within 20 %)
    print(frequencies)
    np.testing.assert_allclose(frequencies["allegro"], frequencies["emt"], rtol=0.2, atol=0.3)
