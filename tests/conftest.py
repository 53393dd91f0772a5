"""Shared fixtures: the ../shared data beside the repository, throwaway embedded stores, VASP replay, a tiny
fairchem checkpoint, EMT-labellable Cu3Au frames (one conftest: several would shadow each other as `conftest`)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
POOL_CSV = SHARED_DATA / "candidates" / "na_mp2018_phonondb.csv"
PHONONDB_DEV = SHARED_DATA / "phonondb_dev"
VASP_REFERENCE = SHARED_DATA / "vasp_reference"


def _shared(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (../shared/data is absent)")
    return path


@pytest.fixture(scope="session")
def phonondb_dev() -> Path:
    return _shared(PHONONDB_DEV, "phononDB dev archives")


@pytest.fixture(scope="session")
def vasp_reference() -> Path:
    return _shared(VASP_REFERENCE, "recorded VASP runs")


@pytest.fixture(scope="session")
def pool_csv() -> Path:
    return _shared(POOL_CSV, "shared candidate pool")


@pytest.fixture(scope="session")
def pool(pool_csv):
    from na_lattice_flows.candidates.loaders import load_csv

    return load_csv(pool_csv)


@pytest.fixture
def embedded_settings(tmp_path, monkeypatch):
    """An embedded store in a fresh folder, with no MongoDB configured from the environment."""
    from na_lattice_flows.execution.store_config import resolve_settings

    monkeypatch.delenv("NA_FLOWS_MONGODB_URI", raising=False)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(tmp_path / "absent.yaml"))
    return resolve_settings(workdir=tmp_path / "work")


def build_tiny_fairchem_checkpoint(path) -> None:
    """A random-weight eSCN-MD backbone with an energy/force/stress head, saved as fairchem's inference
    checkpoint with omat tasks: the same format as the UMA files."""
    import hydra
    import torch
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    backbone = {
        "model": "fairchem.core.models.uma.escn_md.eSCNMDBackbone",
        "max_num_elements": 100,
        "sphere_channels": 8,
        "lmax": 1,
        "mmax": 1,
        "otf_graph": True,
        "max_neighbors": 30,
        "cutoff": 4.0,
        "edge_channels": 8,
        "num_distance_basis": 8,
        "num_layers": 1,
        "hidden_channels": 8,
        "direct_forces": False,
        "regress_forces": True,
        "regress_stress": True,
        "dataset_mapping": {"omat": "omat"},
        "always_use_pbc": False,
    }
    model_config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": backbone,
        "heads": {
            "efs": {"module": "fairchem.core.models.uma.escn_md.MLP_EFS_Head", "prefix": "omat"}
        },
        "pass_through_head_outputs": True,
    }

    def task(prop: str, level: str, dim: list[int]) -> dict:
        return {
            "_target_": "fairchem.core.units.mlip_unit.mlip_unit.Task",
            "name": f"omat_{prop}",
            "level": level,
            "property": prop,
            "datasets": ["omat"],
            "out_spec": {
                "_target_": "fairchem.core.units.mlip_unit.mlip_unit.OutputSpec",
                "dim": dim,
                "dtype": "float32",
            },
            # one scale for energy, forces and stress keeps the model conservative; 100 lifts the random
            # model's forces well above float32 noise in the finite-difference check
            "normalizer": {
                "_target_": "fairchem.core.modules.normalization.normalizer.Normalizer",
                "mean": 0.0,
                "rmsd": 100.0,
            },
        }

    torch.manual_seed(0)
    model = hydra.utils.instantiate(model_config)
    torch.save(
        MLIPInferenceCheckpoint(
            model_config=model_config,
            model_state_dict=model.state_dict(),
            ema_state_dict=torch.optim.swa_utils.AveragedModel(model).state_dict(),
            tasks_config=[
                task("energy", "system", [1]),
                task("forces", "atom", [3]),
                task("stress", "system", [1, 9]),
            ],
        ),
        path,
    )


@pytest.fixture
def tiny_fairchem_checkpoint(tmp_path) -> Path:
    """A tiny random-weight fairchem inference checkpoint in UMA's format (the real weights are gated)."""
    path = tmp_path / "tiny_uma.pt"
    build_tiny_fairchem_checkpoint(path)
    return path


@pytest.fixture
def mock_vasp(monkeypatch, vasp_reference):
    """atomate2's monkeypatch_vasp (POTCAR.spec instead of POTCAR, recorded outputs instead of VASP), plus a record
    of the inputs every job wrote and the custodian settings it asked for, by job name."""
    from atomate2.utils.testing.vasp import monkeypatch_vasp
    from atomate2.vasp.jobs import base
    from jobflow import CURRENT_JOB
    from pymatgen.core import Structure
    from pymatgen.io.vasp import Incar, Kpoints

    patcher = monkeypatch_vasp(monkeypatch, vasp_reference)
    register = next(patcher)
    replay = base.run_vasp
    written = {}

    def recording_run_vasp(*args, **kwargs):
        written[CURRENT_JOB.job.name] = {
            "INCAR": Incar.from_file("INCAR"),
            "KPOINTS": Kpoints.from_file("KPOINTS") if Path("KPOINTS").exists() else None,
            "POTCAR": Path("POTCAR.spec").read_text().split(),
            "POSCAR": Structure.from_file("POSCAR"),
            "run_vasp_kwargs": kwargs,
        }
        replay(*args, **kwargs)

    monkeypatch.setattr(base, "run_vasp", recording_run_vasp)
    yield register, written
    next(patcher, None)


def cu3au_frames(n_configurations: int = 5, frames_each: int = 6) -> list:
    """Cu3Au, 32 atoms: the L1_2 order and random arrangements, each rattled (0.08 A) and strained (+-2 %)."""
    import numpy as np
    from ase.build import bulk

    frames = []
    for index in range(n_configurations):
        rng = np.random.default_rng(index)
        gold = np.arange(0, 32, 4) if index == 0 else rng.choice(32, 8, replace=False)
        for frame in range(frames_each):
            atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat((2, 2, 2))
            atoms.symbols[gold] = "Au"
            atoms.set_cell(atoms.cell * (1 + rng.uniform(-0.02, 0.02)), scale_atoms=True)
            atoms.rattle(0.08, seed=100 * index + frame)
            atoms.info["configuration"] = f"arrangement{index}"
            frames.append(atoms)
    return frames


@pytest.fixture(name="cu3au_frames")
def cu3au_frames_fixture():
    """``cu3au_frames(n_configurations, frames_each)``: unlabelled frames, grouped by ``info['configuration']``."""
    return cu3au_frames


def numpy_force_rmse_meV(model: str, path) -> float:
    """Force RMSE (meV/A, over components) of a registry model on a labelled extended-XYZ file, by numpy: the
    independent check of what the frame benchmark reports."""
    import numpy as np
    from ase.io import read

    from na_lattice_flows.models import get_calculator

    calculator = get_calculator(model, device="cpu")
    differences = []
    for frame in read(path, ":"):
        probe = frame.copy()
        probe.calc = calculator
        differences.append(probe.get_forces() - frame.get_forces())
    return 1e3 * float(np.sqrt(np.mean(np.square(differences))))


@pytest.fixture(name="numpy_force_rmse_meV")
def numpy_force_rmse_fixture():
    return numpy_force_rmse_meV
