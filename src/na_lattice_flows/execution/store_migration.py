"""The one-time rewrite of release 0.1's module paths in a store (``legacy_paths``): FireWorks specs and job
outputs written by 0.1 name its flat modules (``phonon_jobs`` and the like), which no longer exist; they are
replaced in place by the modules that hold those names now, once per store, so that jobflow decodes them with
no import hook. A store that was rewritten (or created by this release) says so in ``MIGRATIONS_COLLECTION``.
"""

from __future__ import annotations

from typing import Any

from na_lattice_flows.legacy_paths import rewrite_module_paths

MIGRATIONS_COLLECTION = "store_migrations"
MODULE_PATHS_MIGRATION = "module-paths-0.1"


def is_migrated(database: Any) -> bool:
    """Whether ``database`` (pymongo-like) records the module-path rewrite."""
    return database[MIGRATIONS_COLLECTION].count_documents({"name": MODULE_PATHS_MIGRATION}) > 0


def mark_migrated(database: Any, rewritten: int = 0) -> None:
    """Record that the store's module paths are rewritten, so that the rewrite runs once."""
    database[MIGRATIONS_COLLECTION].insert_one(
        {"name": MODULE_PATHS_MIGRATION, "paths_rewritten": rewritten}
    )


def old_module_paths(databases: list[Any]) -> int:
    """How many 0.1 module paths the collections of ``databases`` hold (GridFS chunks are not documents: skipped)."""
    return sum(_rewrite(database, write=False) for database in databases)


def rewrite_old_module_paths(databases: list[Any], marker: Any) -> int:
    """Rewrite every 0.1 module path in ``databases`` (documents replaced one by one: a rewrite that is cut
    off leaves documents that are either old or new, and the next open finishes it), then record it in
    ``marker``'s migrations collection. The number of paths rewritten."""
    if is_migrated(marker):
        return 0
    rewritten = sum(_rewrite(database, write=True) for database in databases)
    mark_migrated(marker, rewritten)
    return rewritten


def _rewrite(database: Any, write: bool) -> int:
    found = 0
    for name in database.list_collection_names():
        if name == MIGRATIONS_COLLECTION or name.endswith((".chunks", ".files")):
            continue
        collection = database[name]
        for document in collection.find({}):
            new, count = rewrite_module_paths(document)
            if count and write:
                collection.replace_one({"_id": document["_id"]}, new)
            found += count
    return found
