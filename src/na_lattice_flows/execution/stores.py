"""Where flows and results live: a real MongoDB when one is configured (``store_config``), else an embedded
on-disk default; ``open_session`` opens either.

MongoDB (production): the JobStore is a MongoURIStore with a GridFS ``data`` store, the LaunchPad is the same
database.

Embedded (no URI): everything sits in one work directory. The JobStore is maggma's MontyStore (SQLite files,
docs and data), the LaunchPad is FireWorks' mongomock persistence file. The mongomock LaunchPad is one JSON file
read when a process opens it; a writing session holds the work folder's lock exclusively and saves the file
atomically after every change (``embedded``), so the embedded default serves one writer at a time (use MongoDB
for many workers); read-only commands share the lock and write nothing, which also lets them read a store in a
folder they cannot write.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from na_lattice_flows.execution.embedded import (
    BACKUP_SUFFIX,
    not_writable,
    read_only_monty_store,
    save_embedded_launchpad,
    select_mongomock,
)
from na_lattice_flows.execution.store_config import (
    CAMPAIGNS_COLLECTION,
    DATA_COLLECTION,
    OUTPUTS_COLLECTION,
    StoreSettings,
    StoreUnavailableError,
)
from na_lattice_flows.execution.worker_files import write_worker_configs

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import JobStore
    from maggma.core import Store


def get_job_store(settings: StoreSettings, read_only: bool = False) -> JobStore:
    """The jobflow JobStore: outputs in the docs store, large arrays in the additional ``data`` store."""
    from jobflow import JobStore

    if settings.mode == "mongodb":
        from maggma.stores import MongoURIStore
        from maggma.stores.gridfs import GridFSURIStore

        client = _mongoclient_kwargs(settings)
        docs = MongoURIStore(settings.mongodb_uri, OUTPUTS_COLLECTION, database=settings.database, mongoclient_kwargs=client)
        data = GridFSURIStore(settings.mongodb_uri, DATA_COLLECTION, database=settings.database, mongoclient_kwargs=client)
    else:
        docs = _monty_store(settings, OUTPUTS_COLLECTION, read_only=read_only)
        data = _monty_store(settings, DATA_COLLECTION, read_only=read_only)
    return JobStore(docs, additional_stores={"data": data})


def get_campaign_store(settings: StoreSettings, read_only: bool = False) -> Store:
    """Campaign records (what was submitted, what the screen rejected and why), beside the job outputs."""
    if settings.mode == "mongodb":
        from maggma.stores import MongoURIStore

        return MongoURIStore(settings.mongodb_uri, CAMPAIGNS_COLLECTION, database=settings.database, key="campaign_id",
                             mongoclient_kwargs=_mongoclient_kwargs(settings))  # fmt: skip
    return _monty_store(settings, CAMPAIGNS_COLLECTION, key="campaign_id", read_only=read_only)


def _mongoclient_kwargs(settings: StoreSettings) -> dict:
    return {"serverSelectionTimeoutMS": int(settings.timeout_s * 1000)}


def check_mongodb(settings: StoreSettings) -> None:
    """Ping the server within ``settings.timeout_s``: an unreachable MongoDB is one line naming its host(s)
    (never the password), not a driver traceback after pymongo's 30 s default."""
    import pymongo
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri

    hosts = ", ".join(f"{host}:{port}" for host, port in parse_uri(settings.mongodb_uri)["nodelist"])
    try:
        with pymongo.MongoClient(settings.mongodb_uri, **_mongoclient_kwargs(settings)) as client:
            client.admin.command("ping")
    except PyMongoError as exc:
        reason = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0][:200]
        raise StoreUnavailableError(
            f"MongoDB at {hosts} (database {settings.database}): not reachable within {settings.timeout_s:g} s ({reason}); "
            "check the URI, the network and the server, or wait longer with NA_FLOWS_MONGODB_TIMEOUT_S"
        ) from None


def _monty_store(settings: StoreSettings, collection: str, key: str = "uuid", read_only: bool = False) -> Store:
    from maggma.stores import MontyStore

    if read_only:
        return read_only_monty_store()(collection, database_path=str(settings.jobstore_dir.resolve()), storage="sqlite", key=key)
    if not settings.jobstore_dir.is_dir():
        settings.jobstore_dir.mkdir(parents=True)
    return MontyStore(collection, database_path=str(settings.jobstore_dir.resolve()), storage="sqlite", key=key)


def get_launchpad(settings: StoreSettings, writable: bool = True) -> LaunchPad:
    """The FireWorks LaunchPad for ``settings``, initialised on first use (not when read only)."""
    import fireworks.core.launchpad as launchpad_module
    from fireworks import LaunchPad

    if settings.mode == "mongodb":
        import pymongo

        launchpad_module.MongoClient = pymongo.MongoClient
        launchpad = LaunchPad(host=settings.mongodb_uri, name=settings.database, uri_mode=True, strm_lvl="WARNING",
                              mongoclient_kwargs=_mongoclient_kwargs(settings))  # fmt: skip
    else:
        select_mongomock(settings.launchpad_file, writable)
        try:
            launchpad = LaunchPad(name=settings.database, strm_lvl="WARNING")
        except ValueError as exc:  # json.JSONDecodeError and bson's errors are ValueErrors
            path = settings.launchpad_file
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            way_back = f"restore the previous save with `cp {backup} {path}`" if backup.is_file() else "no backup exists"
            raise StoreUnavailableError(
                f"{path}: the embedded LaunchPad file is damaged ({exc}); {way_back}, or start a new store with another "
                "--workdir (the job outputs in jobstore/ are not affected)"
            ) from None
    if writable and launchpad.fw_id_assigner.count_documents({}) == 0 and launchpad.workflows.count_documents({}) == 0:
        launchpad.reset("", require_password=False)
    return launchpad


@dataclass
class Session:
    """An open LaunchPad and JobStore; ``save()`` makes LaunchPad changes durable (a no-op on MongoDB and on a
    store opened read-only)."""

    settings: StoreSettings
    launchpad: LaunchPad
    job_store: JobStore
    read_only: bool = False

    def save(self) -> None:
        if self.settings.mode == "embedded" and not self.read_only:
            save_embedded_launchpad(self.launchpad, self.settings.launchpad_file)

    def close(self) -> None:
        """Save, then stop mongomock_persistence from writing this (by then stale) snapshot again when the
        interpreter exits, which would overwrite what a later session in the same process saved."""
        self.save()
        if self.settings.mode == "embedded":
            self.launchpad.connection._store._finalizer.detach()
        self.launchpad.connection.close()


@contextmanager
def open_session(settings: StoreSettings, read_only: bool = False) -> Iterator[Session]:
    """Open the stores. On the embedded default, hold the work folder's lock (shared for ``read_only``) and save
    on exit; a read-only command on a store it cannot write opens it without writing anything."""
    if settings.mode == "mongodb":
        check_mongodb(settings)
        session = Session(settings, get_launchpad(settings), get_job_store(settings))
        try:
            yield session
        finally:
            session.close()
        return
    blocked = not_writable(settings.workdir)
    if blocked is not None and not read_only:
        raise StoreUnavailableError(
            f"{blocked}: not writable by this user, and this command writes to the embedded store in {settings.workdir}; "
            "read-only commands (status, results, report) still work there; use a writable --workdir"
        )
    # a reader writes nothing, except that it creates the (empty) store in a new work folder, as a writer would
    writing = not read_only or (blocked is None and not settings.launchpad_file.is_file())
    if not writing and not settings.launchpad_file.is_file():
        raise StoreUnavailableError(f"{settings.workdir}: no embedded store there (no launchpad.json), and it is not writable")
    if writing:
        settings.workdir.mkdir(parents=True, exist_ok=True)
    lock_file = settings.workdir / ".lock"
    opened = lock_file.open("a") if blocked is None else lock_file.open() if lock_file.exists() else contextlib.nullcontext()
    with opened as lock:
        if lock is not None:
            try:
                fcntl.flock(lock, (fcntl.LOCK_EX if writing else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreUnavailableError(
                    f"{settings.workdir}: another na-flows process is using this embedded store; "
                    "wait for it, or configure MongoDB for several workers"
                ) from None
        session = Session(settings, get_launchpad(settings, writable=writing), get_job_store(settings, read_only=not writing),
                          read_only=not writing)  # fmt: skip
        if writing:
            _save_on_checkout(session)
            write_worker_configs(settings)
        try:
            yield session
        finally:
            session.close()
            if lock is not None:
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


