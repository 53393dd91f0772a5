"""Where flows and results live: a real MongoDB when one is configured, else an embedded on-disk default.

MongoDB (production): the JobStore is a MongoURIStore with a GridFS ``data`` store, the LaunchPad is the same
database. Configure by URI (authentication, TLS and replica sets are URI options):
``--mongodb-uri`` on the command line, else ``NA_FLOWS_MONGODB_URI``, else ``mongodb_uri`` in the file named
by ``NA_FLOWS_CONFIG`` (default ``launchpad/na_flows.yaml`` in the current folder).

Embedded (no URI): everything sits in one work directory. The JobStore is maggma's MontyStore (SQLite files,
docs and data), the LaunchPad is FireWorks' mongomock persistence file. The mongomock LaunchPad is one JSON file
read when a process opens it; ``EmbeddedSession`` holds a file lock and saves it atomically after every change,
so the embedded default serves one process at a time (use MongoDB for many workers).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

import yaml

from na_lattice_flows.settings import get_settings

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore
    from maggma.core import Store

DEFAULT_DATABASE = "na_lattice_flows"
OUTPUTS_COLLECTION = "outputs"
DATA_COLLECTION = "outputs_data"
CAMPAIGNS_COLLECTION = "campaigns"


class StoreConfigError(ValueError):
    """The store configuration is unusable (bad URI, unreadable config file)."""


@dataclass(frozen=True)
class StoreSettings:
    mode: Literal["embedded", "mongodb"]
    workdir: Path
    mongodb_uri: str | None = None
    database: str = DEFAULT_DATABASE

    @property
    def launchpad_file(self) -> Path:
        return self.workdir / "launchpad.json"

    @property
    def jobstore_dir(self) -> Path:
        return self.workdir / "jobstore"

    @property
    def runs_dir(self) -> Path:
        return self.workdir / "runs"

    def describe(self) -> str:
        if self.mode == "embedded":
            return f"embedded store in {self.workdir.resolve()}"
        parsed = urlparse(self.mongodb_uri or "")
        return f"MongoDB {parsed.hostname or parsed.netloc.split('@')[-1]} database {self.database}"


def resolve_settings(workdir: str | Path | None = None, mongodb_uri: str | None = None) -> StoreSettings:
    """Pick MongoDB when a URI is configured anywhere (argument, ``NA_FLOWS_MONGODB_URI``, the config file), else
    the embedded store in ``workdir`` (argument, else ``NA_FLOWS_WORKDIR``, else ./na_flows_work)."""
    settings = get_settings()
    workdir = Path(workdir or settings.workdir).resolve()
    database = settings.database
    uri = mongodb_uri or settings.mongodb_uri
    config_file = settings.config
    if not uri and config_file.is_file():
        try:
            config = yaml.safe_load(config_file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise StoreConfigError(f"{config_file}: not valid YAML ({exc})") from exc
        uri = config.get("mongodb_uri")
        database = database or config.get("database")
    if not uri:
        return StoreSettings(mode="embedded", workdir=workdir)
    parsed = urlparse(uri)
    if parsed.scheme not in ("mongodb", "mongodb+srv"):
        raise StoreConfigError(f"MongoDB URI {uri!r}: must start with mongodb:// or mongodb+srv://")
    database = database or parsed.path.lstrip("/") or DEFAULT_DATABASE
    return StoreSettings(mode="mongodb", workdir=workdir, mongodb_uri=uri, database=database)


def get_job_store(settings: StoreSettings) -> JobStore:
    """The jobflow JobStore: outputs in the docs store, large arrays in the additional ``data`` store."""
    from jobflow import JobStore

    if settings.mode == "mongodb":
        from maggma.stores import MongoURIStore
        from maggma.stores.gridfs import GridFSURIStore

        docs = MongoURIStore(settings.mongodb_uri, OUTPUTS_COLLECTION, database=settings.database)
        data = GridFSURIStore(settings.mongodb_uri, DATA_COLLECTION, database=settings.database)
    else:
        docs = _monty_store(settings, OUTPUTS_COLLECTION)
        data = _monty_store(settings, DATA_COLLECTION)
    return JobStore(docs, additional_stores={"data": data})


def get_campaign_store(settings: StoreSettings) -> Store:
    """Campaign records (what was submitted, what the screen rejected and why), beside the job outputs."""
    if settings.mode == "mongodb":
        from maggma.stores import MongoURIStore

        return MongoURIStore(settings.mongodb_uri, CAMPAIGNS_COLLECTION, database=settings.database, key="campaign_id")
    return _monty_store(settings, CAMPAIGNS_COLLECTION, key="campaign_id")


def _monty_store(settings: StoreSettings, collection: str, key: str = "uuid") -> Store:
    from maggma.stores import MontyStore

    settings.jobstore_dir.mkdir(parents=True, exist_ok=True)
    return MontyStore(collection, database_path=str(settings.jobstore_dir.resolve()), storage="sqlite", key=key)


def get_launchpad(settings: StoreSettings) -> LaunchPad:
    """The FireWorks LaunchPad for ``settings``, initialised on first use."""
    import fireworks.core.launchpad as launchpad_module
    from fireworks import LaunchPad

    if settings.mode == "mongodb":
        import pymongo

        launchpad_module.MongoClient = pymongo.MongoClient
        launchpad = LaunchPad(host=settings.mongodb_uri, name=settings.database, uri_mode=True, strm_lvl="WARNING")
    else:
        _select_mongomock(settings.launchpad_file)
        launchpad = LaunchPad(name=settings.database, strm_lvl="WARNING")
    if launchpad.fw_id_assigner.count_documents({}) == 0 and launchpad.workflows.count_documents({}) == 0:
        launchpad.reset("", require_password=False)
    return launchpad


def _select_mongomock(persistence_file: Path) -> None:
    """Point FireWorks at mongomock with ``persistence_file`` (FireWorks' own MONGOMOCK_SERVERSTORE_FILE
    mechanism, applied here too because fireworks may have been imported before the variable was set)."""
    import fireworks.core.launchpad as launchpad_module
    import fireworks.fw_config as fw_config
    import mongomock.gridfs
    import mongomock_persistence

    persistence_file.parent.mkdir(parents=True, exist_ok=True)
    if not persistence_file.exists():
        persistence_file.write_text("{}")
    os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(persistence_file.resolve())
    fw_config.MONGOMOCK_SERVERSTORE_FILE = os.environ["MONGOMOCK_SERVERSTORE_FILE"]
    launchpad_module.MongoClient = mongomock_persistence.MongoClient
    mongomock.gridfs.enable_gridfs_integration()


def save_embedded_launchpad(launchpad: LaunchPad, persistence_file: Path) -> None:
    """Write the mongomock LaunchPad to its file atomically (a crash never leaves half a file)."""
    from bson import json_util

    server_store = launchpad.connection._store  # mongomock keeps all databases in this ServerStore
    text = json_util.dumps(server_store.to_dict())
    with tempfile.NamedTemporaryFile("w", dir=persistence_file.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
        temporary = Path(handle.name)
    temporary.replace(persistence_file)


@dataclass
class Session:
    """An open LaunchPad and JobStore; ``save()`` makes LaunchPad changes durable (a no-op on MongoDB)."""

    settings: StoreSettings
    launchpad: LaunchPad
    job_store: JobStore

    def save(self) -> None:
        if self.settings.mode == "embedded":
            save_embedded_launchpad(self.launchpad, self.settings.launchpad_file)

    def close(self) -> None:
        """Save, then stop mongomock_persistence from writing this (by then stale) snapshot again when the
        interpreter exits, which would overwrite what a later session in the same process saved."""
        self.save()
        if self.settings.mode == "embedded":
            self.launchpad.connection._store._finalizer.detach()
        self.launchpad.connection.close()


@contextmanager
def open_session(settings: StoreSettings) -> Iterator[Session]:
    """Open the stores; on the embedded default, hold the work directory's lock and save on exit."""
    if settings.mode == "mongodb":
        session = Session(settings, get_launchpad(settings), get_job_store(settings))
        try:
            yield session
        finally:
            session.close()
        return
    settings.workdir.mkdir(parents=True, exist_ok=True)
    with (settings.workdir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(
                f"{settings.workdir}: another na-flows process is using this embedded store; "
                "wait for it, or configure MongoDB for several workers"
            ) from None
        session = Session(settings, get_launchpad(settings), get_job_store(settings))
        _save_on_checkout(session)
        write_worker_configs(settings)
        try:
            yield session
        finally:
            session.close()
            fcntl.flock(lock, fcntl.LOCK_UN)


def _save_on_checkout(session: Session) -> None:
    """Make the embedded LaunchPad record a job's checkout (RUNNING, its launch folder and host) on disk before
    the job runs, as MongoDB would: a worker killed mid-job then leaves a trace that recovery finds, instead of
    a job that silently looks never started."""
    checkout = session.launchpad.checkout_fw

    def checkout_and_save(*args, **kwargs):
        result = checkout(*args, **kwargs)
        session.save()
        return result

    session.launchpad.checkout_fw = checkout_and_save


def worker_files(settings: StoreSettings) -> dict[str, str]:
    """FireWorks' and jobflow's own configuration for plain ``rlaunch``/``qlaunch``/``lpad`` on this store:
    ``my_launchpad.yaml`` and ``jobflow.yaml`` (the JobStore with its ``data`` store), by file name."""
    if settings.mode == "mongodb":
        launchpad = {"host": settings.mongodb_uri, "uri_mode": True, "name": settings.database}
        uri = {"uri": settings.mongodb_uri, "database": settings.database}
        docs = {"@module": "maggma.stores.mongolike", "@class": "MongoURIStore", "collection_name": OUTPUTS_COLLECTION, **uri}
        data = {"@module": "maggma.stores.gridfs", "@class": "GridFSURIStore", "collection_name": DATA_COLLECTION, **uri}
    else:
        launchpad = {"name": settings.database}
        monty = {"@module": "maggma.stores.mongolike", "@class": "MontyStore", "database_path": str(settings.jobstore_dir.resolve()), "storage": "sqlite"}
        docs, data = {**monty, "collection_name": OUTPUTS_COLLECTION}, {**monty, "collection_name": DATA_COLLECTION}
    jobflow_config = {"JOB_STORE": {"@module": "jobflow.core.store", "@class": "JobStore", "docs_store": docs, "additional_stores": {"data": data}}}
    return {"my_launchpad.yaml": yaml.safe_dump(launchpad), "jobflow.yaml": yaml.safe_dump(jobflow_config)}


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
        "# source this before lpad/rlaunch on the embedded store (one process at a time)\n"
        f"export MONGOMOCK_SERVERSTORE_FILE={settings.launchpad_file.resolve()}\n"
        f"export JOBFLOW_CONFIG_FILE={workdir / 'jobflow.yaml'}\n"
        f"export FW_CONFIG_FILE={workdir / 'FW_config.yaml'}\n"
    )
    (workdir / "FW_config.yaml").write_text(
        yaml.safe_dump({"LAUNCHPAD_LOC": str(workdir / "my_launchpad.yaml"), "MONGOMOCK_SERVERSTORE_FILE": str(settings.launchpad_file.resolve())})
    )
