"""MongoDB collections on one SQLite file, for the embedded store: SQLite keeps the documents (MongoDB Extended
JSON, ``bson.json_util``: datetimes and ObjectIds round-trip) and serialises writers across processes; mongomock,
the MongoDB emulation FireWorks and maggma already support, gives every query, update, sort, projection and
aggregation its MongoDB meaning.

An operation first narrows the collection to candidate documents through SQLite (a ``keys`` table holds the
values of each indexed field, one row per array element, so ``{"nodes": 5}`` finds a document whose ``nodes``
contains 5, as in MongoDB); the candidates are loaded into a scratch mongomock collection and the operation runs
there unchanged; what it inserted, changed or deleted is written back. A write is one ``BEGIN IMMEDIATE``
transaction: FireWorks' checkout (find-and-modify of a READY firework) is atomic across processes, as on MongoDB.
WAL journaling lets readers (``status``, ``report``) read while workers write.

Why not an existing SQLite document library (measured, README "Embedded store"): neosqlite 1.17 returns nothing
for ``{"nodes": fw_id}`` on an array field (FireWorks finds a firework's workflow that way) and fails to insert
into a collection with FireWorks' compound index on ``_id``; montydb's SQLite backend decodes every document of
a collection for every query and has no find_one_and_replace, aggregate, or cross-process find-and-modify.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from na_lattice_flows.execution.sqlite_collection import SQLiteDocumentCollection
from na_lattice_flows.execution.store_config import StoreUnavailableError

BUSY_TIMEOUT_S = (
    600.0  # a writer waits this long for another process's transaction (jobs write in milliseconds)
)
# On a network or slow disk SQLite may answer "database is locked" at once rather than wait (its locks go through
# the file system); such answers are retried with exponential backoff, up to LOCK_RETRY_S in all.
LOCK_RETRY_S = 600.0
LOCK_BACKOFF_S = (0.05, 5.0)  # first wait, longest wait


class StoreFullError(StoreUnavailableError):
    """The embedded store's disk (or SQLite's page limit) is full: the transaction was rolled back, nothing half
    written; free space and run again (a job left running is rerun by the next worker)."""


class StoreLockedError(StoreUnavailableError):
    """The embedded store stayed locked by another process for longer than ``LOCK_RETRY_S``."""


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _is_full(exc: BaseException) -> bool:
    return ("full" in str(exc) and isinstance(exc, sqlite3.OperationalError)) or getattr(
        exc, "errno", None
    ) == errno.ENOSPC


SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (collection, id));
CREATE TABLE IF NOT EXISTS keys (collection TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS keys_lookup ON keys (collection, field, value);
CREATE INDEX IF NOT EXISTS keys_of_document ON keys (collection, id);
CREATE TABLE IF NOT EXISTS indexes (collection TEXT NOT NULL, field TEXT NOT NULL, is_unique INTEGER NOT NULL, PRIMARY KEY (collection, field));
"""


class SQLiteDocumentDatabase:
    """pymongo's Database: collections by name or attribute."""

    def __init__(self, client: SQLiteDocumentClient, name: str) -> None:
        self.client, self.name = client, name

    def __getitem__(self, name: str) -> SQLiteDocumentCollection:
        return SQLiteDocumentCollection(self.client, self, name)

    def __getattr__(self, name: str) -> SQLiteDocumentCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def get_collection(self, name: str, **kwargs) -> SQLiteDocumentCollection:
        return self[name]

    def command(self, command, *args, **kwargs) -> dict:
        """Server commands mean nothing here (FireWorks asks for ``compact``): acknowledged."""
        return {"ok": 1.0}

    def list_collection_names(self) -> list[str]:
        with self.client.transaction(write=False) as connection:
            prefix = f"{self.name}."
            rows = connection.execute(
                "SELECT DISTINCT collection FROM documents WHERE collection LIKE ?", (prefix + "%",)
            )
            return [name[len(prefix) :] for (name,) in rows]

    def drop_collection(self, name: str) -> None:
        self[name].drop()


class SQLiteDocumentClient:
    """A MongoClient stand-in over the SQLite file ``path`` (one connection per client and thread)."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._local = threading.local()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._connection().executescript(SCHEMA)

    def __getitem__(self, name: str) -> SQLiteDocumentDatabase:
        return SQLiteDocumentDatabase(self, name)

    def get_database(self, name: str, **kwargs) -> SQLiteDocumentDatabase:
        return self[name]

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self.read_only:  # in a folder this user cannot write, SQLite cannot share the WAL index: read the file as it is
                frozen = (
                    "&immutable=1" if not os.access(self.path.resolve().parent, os.W_OK) else ""
                )
                connection = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro{frozen}",
                    uri=True,
                    timeout=BUSY_TIMEOUT_S,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                connection = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode = WAL")
                # WAL + NORMAL: a killed process loses nothing committed
                connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A snapshot to read from, or the write lock (``BEGIN IMMEDIATE``: other writers wait, readers go on).
        A full disk rolls the transaction back and raises ``StoreFullError``; lock answers are retried."""
        connection = self._connection()
        # nested (create_index inside a write): the outer transaction covers it
        if connection.in_transaction:
            yield connection
            return
        self._retrying(connection, "BEGIN IMMEDIATE" if write and not self.read_only else "BEGIN")
        try:
            yield connection
            self._retrying(connection, "COMMIT")
        except BaseException as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if _is_full(exc):
                raise self._full(exc) from exc
            raise

    def _retrying(self, connection: sqlite3.Connection, statement: str) -> None:
        """``statement`` (BEGIN or COMMIT), retried with exponential backoff while SQLite answers that the file is locked."""
        wait, deadline = LOCK_BACKOFF_S[0], time.monotonic() + LOCK_RETRY_S
        while True:
            try:
                connection.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                if time.monotonic() + wait > deadline:
                    raise StoreLockedError(
                        f"embedded store {self.path}: still locked by another process after {LOCK_RETRY_S:.0f} s "
                        f"({exc}); is a worker stuck, or the disk's locking broken?"
                    ) from exc
                time.sleep(wait)
                wait = min(2 * wait, LOCK_BACKOFF_S[1])

    def _full(self, exc: BaseException) -> StoreFullError:
        free = shutil.disk_usage(self.path.resolve().parent).free / 2**20
        return StoreFullError(
            f"embedded store {self.path}: no space left to write ({exc}; {free:.0f} MiB free on its disk). "
            "Nothing was half written; free space and run again"
        )

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
