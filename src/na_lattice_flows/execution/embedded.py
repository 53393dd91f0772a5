"""The embedded store's files: the mongomock LaunchPad file (selected for FireWorks, saved atomically with the
previous save kept as a backup), the MontyStore opened without writing for read-only commands, and what in a
work folder this process cannot write."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fireworks import LaunchPad

STORAGE_CONFIG_FILE = ".monty.storage"  # montydb's storage identification file (montydb.configure._storage_ident_fname)


@functools.cache
def read_only_monty_store() -> type:
    """maggma's MontyStore writes montydb's storage configuration file at every connect (a workaround it notes);
    a store opened read-only must write nothing, so this one connects with the configuration already there."""
    from maggma.stores import MontyStore
    from montydb import MontyClient

    class ReadOnlyMontyStore(MontyStore):
        def connect(self, force_reset: bool = False) -> None:
            if not self._coll or force_reset:
                if not (Path(self.database_path) / STORAGE_CONFIG_FILE).is_file():
                    # nothing was ever stored: an empty collection. montydb would write a default configuration
                    # here and fix this process's BSON setting to it, so that a later writable store fails
                    import mongomock

                    self._coll = mongomock.MongoClient()[self.database_name][self.collection_name]
                    return
                client = MontyClient(self.database_path, **self.client_kwargs)
                self._coll = client[self.database_name][self.collection_name]

    return ReadOnlyMontyStore


def select_mongomock(persistence_file: Path, writable: bool = True) -> None:
    """Point FireWorks at mongomock with ``persistence_file`` (FireWorks' own MONGOMOCK_SERVERSTORE_FILE
    mechanism, applied here too because fireworks may have been imported before the variable was set)."""
    import fireworks.core.launchpad as launchpad_module
    import fireworks.fw_config as fw_config
    import mongomock.gridfs
    import mongomock_persistence

    if writable and not persistence_file.exists():
        persistence_file.parent.mkdir(parents=True, exist_ok=True)
        persistence_file.write_text("{}")
    os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(persistence_file.resolve())
    fw_config.MONGOMOCK_SERVERSTORE_FILE = os.environ["MONGOMOCK_SERVERSTORE_FILE"]
    launchpad_module.MongoClient = mongomock_persistence.MongoClient
    mongomock.gridfs.enable_gridfs_integration()


BACKUP_SUFFIX = ".bak"


def save_embedded_launchpad(launchpad: LaunchPad, persistence_file: Path) -> None:
    """Write the mongomock LaunchPad to its file atomically (a crash never leaves half a file), keeping the
    previous save as ``launchpad.json.bak`` (a hard link: no copy) for a file damaged from outside."""
    from bson import json_util

    server_store = launchpad.connection._store  # mongomock keeps all databases in this ServerStore
    text = json_util.dumps(server_store.to_dict())
    with tempfile.NamedTemporaryFile("w", dir=persistence_file.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
        temporary = Path(handle.name)
    if persistence_file.is_file() and persistence_file.stat().st_size > 2:  # not the empty "{}" of a new store
        link = persistence_file.with_name(persistence_file.name + BACKUP_SUFFIX + ".tmp")
        link.unlink(missing_ok=True)
        os.link(persistence_file, link)
        link.replace(persistence_file.with_name(persistence_file.name + BACKUP_SUFFIX))
    temporary.replace(persistence_file)


def not_writable(workdir: Path) -> Path | None:
    """The first path of an embedded store (folder, LaunchPad file, job store) this process cannot write."""
    folder = workdir if workdir.exists() else next(parent for parent in workdir.parents if parent.exists())
    candidates = [folder, workdir / "launchpad.json", workdir / "jobstore", *workdir.glob("jobstore/**/*")]
    return next((path for path in candidates if path.exists() and not os.access(path, os.W_OK)), None)
