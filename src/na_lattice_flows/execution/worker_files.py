"""Configuration files for FireWorks' and jobflow's own commands (``rlaunch``, ``qlaunch``, ``lpad``) on the store
na-flows uses: a MongoDB (any worker node) or the embedded store (this machine; FireWorks' commands reach its
SQLite LaunchPad through ``python -m na_lattice_flows.execution.fireworks_commands``)."""

from __future__ import annotations

from pathlib import Path

import yaml

from na_lattice_flows.execution.store_config import (
    DATA_COLLECTION,
    OUTPUTS_COLLECTION,
    StoreSettings,
)


def worker_files(settings: StoreSettings) -> dict[str, str]:
    """FireWorks' and jobflow's own configuration for plain ``rlaunch``/``qlaunch``/``lpad`` on this store:
    ``my_launchpad.yaml`` and ``jobflow.yaml`` (the JobStore with its ``data`` store), by file name."""
    if settings.mode == "mongodb":
        launchpad = {"host": settings.mongodb_uri, "uri_mode": True, "name": settings.database}
        uri = {"uri": settings.mongodb_uri, "database": settings.database}
        docs = {
            "@module": "maggma.stores.mongolike",
            "@class": "MongoURIStore",
            "collection_name": OUTPUTS_COLLECTION,
            **uri,
        }
        data = {
            "@module": "maggma.stores.gridfs",
            "@class": "GridFSURIStore",
            "collection_name": DATA_COLLECTION,
            **uri,
        }
    else:
        launchpad = {"name": settings.database}
        sqlite = {
            "@module": "na_lattice_flows.execution.embedded",
            "@class": "SQLiteStore",
            "path": str(settings.jobstore_db.resolve()),
        }
        docs, data = (
            {**sqlite, "collection_name": OUTPUTS_COLLECTION},
            {**sqlite, "collection_name": DATA_COLLECTION},
        )
    jobflow_config = {
        "JOB_STORE": {
            "@module": "jobflow.core.store",
            "@class": "JobStore",
            "docs_store": docs,
            "additional_stores": {"data": data},
        }
    }
    return {
        "my_launchpad.yaml": yaml.safe_dump(launchpad),
        "jobflow.yaml": yaml.safe_dump(jobflow_config),
    }


def write_worker_files(settings: StoreSettings, folder: Path) -> list[Path]:
    """Write ``worker_files`` into ``folder``, readable by the owner only (a MongoDB URI may hold a password)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in worker_files(settings).items():
        path = folder / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)
        written.append(path)
    return written


def write_worker_configs(settings: StoreSettings) -> None:
    """Files for running plain FireWorks/jobflow commands (``lpad``, ``rlaunch``) on the embedded store."""
    workdir = settings.workdir.resolve()
    write_worker_files(settings, workdir)
    (workdir / "env.sh").write_text(
        "# source this, then run FireWorks' commands on the embedded store as\n"
        "#   python -m na_lattice_flows.execution.fireworks_commands lpad get_wflows\n"
        "#   python -m na_lattice_flows.execution.fireworks_commands rlaunch rapidfire\n"
        f"export NA_FLOWS_WORKDIR={workdir}\n"
        f"export JOBFLOW_CONFIG_FILE={workdir / 'jobflow.yaml'}\n"
        f"export FW_CONFIG_FILE={workdir / 'FW_config.yaml'}\n"
    )
    (workdir / "FW_config.yaml").write_text(
        yaml.safe_dump({"LAUNCHPAD_LOC": str(workdir / "my_launchpad.yaml")})
    )
