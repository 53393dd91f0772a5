"""Shared fixtures: the ../shared data beside the repository, and throwaway embedded stores."""

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
