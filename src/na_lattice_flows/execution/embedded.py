"""The embedded store's files: two SQLite document files in the work folder (``sqlite_documents``), the
LaunchPad's (``launchpad.sqlite``) and the job outputs' (``jobstore.sqlite``: outputs, their large arrays,
campaign records); the maggma store on them; the one-time import of a store written by release 0.2 or earlier
(a mongomock LaunchPad file and a montydb job store); and what in a work folder this process cannot write.

Many processes share these files (several ``na-flows run`` workers, ``status`` while they run): SQLite
serialises the writers and lets readers read (WAL), and a job's checkout is one transaction."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from maggma.stores import MongoStore

from na_lattice_flows.execution.sqlite_documents import SQLiteDocumentClient

if TYPE_CHECKING:
    from na_lattice_flows.execution.store_config import StoreSettings

DATABASE = "na_flows"  # the database name inside jobstore.sqlite (the LaunchPad's is the settings' database)
LEGACY_JOBSTORE_DATABASE = "db"  # maggma MontyStore's default, which release 0.2 used
IMPORTED_SUFFIX = ".imported"


class SQLiteStore(MongoStore):
    """maggma's MongoStore on a collection of an SQLite document file (everything but the connection is
    MongoStore's: queries, updates, indexes, groupby)."""

    def __init__(self, path: str, collection_name: str, read_only: bool = False, **kwargs) -> None:
        self.path = str(path)
        self.read_only = read_only
        super().__init__(database=DATABASE, collection_name=collection_name, **kwargs)

    @property
    def name(self) -> str:
        """The store's address, for maggma's messages."""
        return f"sqlite://{self.path}#{self.collection_name}"

    def connect(self, force_reset: bool = False) -> None:
        """Open the SQLite collection (again with ``force_reset``)."""
        if self._coll is None or force_reset:
            self._coll = SQLiteDocumentClient(self.path, read_only=self.read_only)[DATABASE][
                self.collection_name
            ]

    def close(self) -> None:
        """Close the SQLite connection."""
        if self._coll is not None:
            self._coll.database.client.close()
            self._coll = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SQLiteStore) and (self.path, self.collection_name) == (
            other.path,
            other.collection_name,
        )

    __hash__ = MongoStore.__hash__


def select_sqlite_launchpad(path: Path, read_only: bool) -> None:
    """Point FireWorks' LaunchPad at the SQLite file (whatever host and port it is given); no GridFS fallback
    (it exists for MongoDB's 16 MB document limit, which SQLite does not have)."""
    import fireworks.core.launchpad as launchpad_module

    launchpad_module.MongoClient = functools.partial(_launchpad_client, Path(path), read_only)
    launchpad_module.GRIDFS_FALLBACK_COLLECTION = None


def _launchpad_client(path: Path, read_only: bool, *args, **kwargs) -> SQLiteDocumentClient:
    return SQLiteDocumentClient(path, read_only=read_only)


def import_legacy_store(settings: StoreSettings) -> bool:
    """Copy a store written by release 0.2 or earlier (``launchpad.json``, mongomock's file, and ``jobstore/``,
    montydb's) into the SQLite files, once: written to temporary files and renamed into place, so that an
    interrupted import starts again; the old files are kept, renamed ``*.imported``. True if it imported."""
    from bson import json_util

    if settings.launchpad_db.exists() or not settings.launchpad_file.is_file():
        return False
    staged = {
        path: path.with_name(path.name + ".importing")
        for path in (settings.launchpad_db, settings.jobstore_db)
    }
    for temporary in staged.values():
        temporary.unlink(missing_ok=True)
    databases = json_util.loads(settings.launchpad_file.read_text() or "{}")
    launchpad = SQLiteDocumentClient(staged[settings.launchpad_db])
    for database, collections in databases.items():
        for name, content in collections.items():
            documents = [document for _, document in content.get("documents", [])]
            if documents:
                launchpad[database][name].insert_many(documents)
    launchpad.close()
    outputs = SQLiteDocumentClient(staged[settings.jobstore_db])
    if settings.jobstore_dir.is_dir():
        from montydb import MontyClient

        legacy = MontyClient(str(settings.jobstore_dir.resolve()), storage="sqlite")[
            LEGACY_JOBSTORE_DATABASE
        ]
        for name in legacy.list_collection_names():
            documents = list(legacy[name].find({}))
            if documents:
                outputs[DATABASE][name].insert_many(documents)
    outputs.close()
    for final, temporary in staged.items():
        temporary.replace(final)
    settings.launchpad_file.replace(
        settings.launchpad_file.with_name(settings.launchpad_file.name + IMPORTED_SUFFIX)
    )
    if settings.jobstore_dir.is_dir():
        settings.jobstore_dir.replace(
            settings.jobstore_dir.with_name(settings.jobstore_dir.name + IMPORTED_SUFFIX)
        )
    return True


def not_writable(workdir: Path) -> Path | None:
    """The first path of an embedded store (folder, its SQLite files) this process cannot write."""
    folder = (
        workdir
        if workdir.exists()
        else next(parent for parent in workdir.parents if parent.exists())
    )
    candidates = [
        folder,
        *workdir.glob("*.sqlite*"),
        workdir / "launchpad.json",
        workdir / "jobstore",
    ]
    return next(
        (path for path in candidates if path.exists() and not os.access(path, os.W_OK)), None
    )
