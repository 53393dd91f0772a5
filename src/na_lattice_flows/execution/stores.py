"""Where flows and results live: a real MongoDB when one is configured (``store_config``), else an embedded
on-disk default; ``open_session`` opens either.

MongoDB (production): the JobStore is a MongoURIStore with a GridFS ``data`` store, the LaunchPad is the same
database.

Embedded (no URI): everything sits in one work directory, in two SQLite document files (``embedded``,
``sqlite_documents``): the LaunchPad's and the JobStore's (docs, data, campaign records). Any number of
processes open them at once: several ``na-flows run`` workers, and ``status``/``results``/``report`` while they
run; every change is a committed transaction, so a killed worker loses nothing it had written. Read-only
commands open the files read-only, which also lets them read a store in a folder they cannot write. A work
folder written by release 0.2 (a mongomock JSON LaunchPad and a montydb job store) is imported once, the first
time a writing command opens it.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from na_lattice_flows.execution.embedded import (
    SQLiteStore,
    import_legacy_store,
    not_writable,
    select_sqlite_launchpad,
)
from na_lattice_flows.execution.store_config import (
    CAMPAIGNS_COLLECTION,
    DATA_COLLECTION,
    OUTPUTS_COLLECTION,
    StoreSettings,
    StoreUnavailableError,
)
from na_lattice_flows.execution.store_migration import (
    is_migrated,
    old_module_paths,
    rewrite_old_module_paths,
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
        docs = MongoURIStore(
            settings.mongodb_uri,
            OUTPUTS_COLLECTION,
            database=settings.database,
            mongoclient_kwargs=client,
        )
        data = GridFSURIStore(
            settings.mongodb_uri,
            DATA_COLLECTION,
            database=settings.database,
            mongoclient_kwargs=client,
        )
    else:
        docs = SQLiteStore(str(settings.jobstore_db), OUTPUTS_COLLECTION, read_only=read_only)
        data = SQLiteStore(str(settings.jobstore_db), DATA_COLLECTION, read_only=read_only)
    return JobStore(docs, additional_stores={"data": data})


def get_campaign_store(settings: StoreSettings, read_only: bool = False) -> Store:
    """Campaign records (what was submitted, what the screen rejected and why), beside the job outputs."""
    if settings.mode == "mongodb":
        from maggma.stores import MongoURIStore

        return MongoURIStore(
            settings.mongodb_uri,
            CAMPAIGNS_COLLECTION,
            database=settings.database,
            key="campaign_id",
            mongoclient_kwargs=_mongoclient_kwargs(settings),
        )
    return SQLiteStore(
        str(settings.jobstore_db), CAMPAIGNS_COLLECTION, key="campaign_id", read_only=read_only
    )


def _mongoclient_kwargs(settings: StoreSettings) -> dict:
    return {"serverSelectionTimeoutMS": int(settings.timeout_s * 1000)}


def check_mongodb(settings: StoreSettings) -> None:
    """Ping the server within ``settings.timeout_s``: an unreachable MongoDB is one line naming its host(s)
    (never the password), not a driver traceback after pymongo's 30 s default."""
    import pymongo
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri

    hosts = ", ".join(
        f"{host}:{port}" for host, port in parse_uri(settings.mongodb_uri)["nodelist"]
    )
    try:
        with pymongo.MongoClient(settings.mongodb_uri, **_mongoclient_kwargs(settings)) as client:
            client.admin.command("ping")
    except PyMongoError as exc:
        reason = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0][:200]
        raise StoreUnavailableError(
            f"MongoDB at {hosts} (database {settings.database}): not reachable within {settings.timeout_s:g} s ({reason}); "
            "check the URI, the network and the server, or wait longer with NA_FLOWS_MONGODB_TIMEOUT_S"
        ) from None


# the fields the embedded job store looks documents up by: SQLite indexes them (``sqlite_documents``)
EMBEDDED_INDEXES = {
    OUTPUTS_COLLECTION: ("uuid", "index", "name"),
    DATA_COLLECTION: ("blob_uuid", "job_uuid"),
    CAMPAIGNS_COLLECTION: ("campaign_id",),
}


def _prepare_embedded(settings: StoreSettings) -> None:
    """Create the work folder's files (importing a release-0.2 store once) and the job store's indexes. Under an
    exclusive lock: two processes opening a new or old folder at the same moment must not both do it."""
    from na_lattice_flows.execution.embedded import DATABASE
    from na_lattice_flows.execution.sqlite_documents import SQLiteDocumentClient

    settings.workdir.mkdir(parents=True, exist_ok=True)
    with (settings.workdir / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        import_legacy_store(settings)
        client = SQLiteDocumentClient(settings.jobstore_db)
        for collection, fields in EMBEDDED_INDEXES.items():
            for field in fields:
                client[DATABASE][collection].create_index(field)
        client.close()
        get_launchpad(
            settings
        ).connection.close()  # a new LaunchPad is reset here, never later beside another writer
        fcntl.flock(lock, fcntl.LOCK_UN)


def _embedded_databases(settings: StoreSettings, read_only: bool = False) -> tuple:
    from na_lattice_flows.execution.embedded import DATABASE
    from na_lattice_flows.execution.sqlite_documents import SQLiteDocumentClient

    launchpad = SQLiteDocumentClient(settings.launchpad_db, read_only=read_only)
    outputs = SQLiteDocumentClient(settings.jobstore_db, read_only=read_only)
    return (launchpad, outputs), (launchpad[settings.database], outputs[DATABASE])


def _migrate_embedded(settings: StoreSettings) -> None:
    """Rewrite release 0.1's module paths once (``store_migration``), under the work folder's lock."""
    clients, (launchpad, outputs) = _embedded_databases(settings)
    try:
        if is_migrated(outputs):
            return
        with (settings.workdir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            rewrite_old_module_paths([launchpad, outputs], marker=outputs)
            fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        for client in clients:
            client.close()


def _refuse_unmigrated(settings: StoreSettings) -> None:
    """A store this user cannot write that still names 0.1's module paths cannot be decoded: say so."""
    clients, databases = _embedded_databases(settings, read_only=True)
    try:
        if not is_migrated(databases[1]) and old_module_paths(list(databases)):
            raise StoreUnavailableError(
                f"{settings.workdir}: written by release 0.1 (old module paths) and not writable by this user; "
                "open it once with any command as a user who can write it, to convert it"
            )
    finally:
        for client in clients:
            client.close()


def _migrate_mongodb(settings: StoreSettings) -> None:
    import pymongo

    with pymongo.MongoClient(settings.mongodb_uri, **_mongoclient_kwargs(settings)) as client:
        database = client[settings.database]
        rewrite_old_module_paths([database], marker=database)


def get_launchpad(
    settings: StoreSettings, writable: bool = True, initialize: bool = True
) -> LaunchPad:
    """The FireWorks LaunchPad for ``settings``, initialised on first use (not when read only; on the embedded
    store only under the work folder's lock, ``_prepare_embedded``: a reset beside another writer could wipe what
    it just added)."""
    import fireworks.core.launchpad as launchpad_module
    from fireworks import LaunchPad

    if settings.mode == "mongodb":
        import pymongo
        from fireworks import fw_config

        launchpad_module.MongoClient = pymongo.MongoClient
        launchpad_module.GRIDFS_FALLBACK_COLLECTION = fw_config.GRIDFS_FALLBACK_COLLECTION
        launchpad = LaunchPad(
            host=settings.mongodb_uri,
            name=settings.database,
            uri_mode=True,
            strm_lvl="WARNING",
            mongoclient_kwargs=_mongoclient_kwargs(settings),
        )
    else:
        select_sqlite_launchpad(settings.launchpad_db, read_only=not writable)
        try:
            launchpad = LaunchPad(name=settings.database, strm_lvl="WARNING")
            launchpad.fw_id_assigner.count_documents({})
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(
                f"{settings.launchpad_db}: the embedded LaunchPad file cannot be read ({exc}); restore it from a backup, or "
                "start a new store with another --workdir (the job outputs in jobstore.sqlite are a separate file)"
            ) from None
    if not (writable and initialize):
        return launchpad
    if (
        launchpad.fw_id_assigner.count_documents({}) == 0
        and launchpad.workflows.count_documents({}) == 0
    ):
        launchpad.reset("", require_password=False)
    elif settings.mode == "embedded" and not launchpad.fireworks.index_information().get("fw_id_1"):
        launchpad.tuneup(bkground=False)  # an imported release-0.2 LaunchPad: FireWorks' indexes
    return launchpad


@dataclass
class Session:
    """An open LaunchPad and JobStore (every change is already durable: MongoDB's, or a committed SQLite
    transaction on the embedded store)."""

    settings: StoreSettings
    launchpad: LaunchPad
    job_store: JobStore
    read_only: bool = False

    def batched_writes(self):
        """A context in which the LaunchPad's writes share one transaction on the embedded store (one commit
        for many workflows; other writers wait for it, readers do not); on MongoDB each write is its own, as ever."""
        return (
            self.launchpad.connection.transaction(write=True)
            if self.settings.mode == "embedded"
            else nullcontext()
        )

    def close(self) -> None:
        """Close the LaunchPad connection and the embedded stores."""
        self.launchpad.connection.close()
        if self.settings.mode == "embedded":
            for store in (self.job_store.docs_store, *self.job_store.additional_stores.values()):
                store.close()


@contextmanager
def open_session(settings: StoreSettings, read_only: bool = False) -> Iterator[Session]:
    """Open the stores; on the embedded default, any number of processes may (a read-only session opens the
    files read-only: a store in a folder this user cannot write can still be read)."""
    if settings.mode == "mongodb":
        check_mongodb(settings)
        _migrate_mongodb(settings)
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
    new_or_old = not settings.launchpad_db.is_file()  # a new folder, or one written by release 0.2
    # a reader creates (or imports) a store, as a writer would
    writing = not read_only or (blocked is None and new_or_old)
    if writing:
        _prepare_embedded(settings)
        write_worker_configs(settings)
    elif new_or_old:
        raise StoreUnavailableError(
            f"{settings.workdir}: no embedded store there (no launchpad.sqlite), and it is not writable"
            + (
                " (it holds a release-0.2 store: open it once with a writable command to convert it)"
                if settings.launchpad_file.is_file()
                else ""
            )
        )
    session = Session(
        settings,
        get_launchpad(settings, writable=writing, initialize=False),
        get_job_store(settings, read_only=not writing),
        read_only=not writing,
    )
    try:
        # after the session opened: its files are known to be readable
        if writing or blocked is None:
            _migrate_embedded(settings)
        else:
            _refuse_unmigrated(settings)
        yield session
    finally:
        session.close()
