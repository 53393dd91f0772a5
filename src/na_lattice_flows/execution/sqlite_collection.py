"""One collection of the SQLite document store (``sqlite_documents``): pymongo's collection methods, each run by
mongomock on the candidate documents in a scratch collection, inside an SQLite transaction.

Each operation's scratch collection lives in a mongomock client of its own, referenced only by the operation and
the cursor a ``find`` returns, so it is freed with them (one shared client kept them all: 1,000 reads, 570 MB)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import mongomock
from bson import ObjectId, json_util
from mongomock.filtering import filter_applies
from pymongo.results import InsertManyResult, UpdateResult

from na_lattice_flows.execution.document_keys import (
    candidate_conditions,
    candidate_sql,
    covered,
    decode,
    document_id,
    encode,
    key_values,
    most_selective_first,
    sorted_ids,
    trimmed,
)


def _scratch_database(name: str = "scratch"):
    """A mongomock database of its own (own client, own server store): gone when the caller drops it."""
    return mongomock.MongoClient()[name]


class SQLiteDocumentCollection:
    """A pymongo-like collection (the methods FireWorks, maggma and jobflow call) on a ``SQLiteDocumentClient``."""

    def __init__(
        self, client: Any, database: Any, name: str
    ) -> None:  # sqlite_documents.SQLiteDocumentClient and its Database
        self._client, self.database, self.name = client, database, name
        self.full_name = f"{database.name}.{name}"

    # --- storage ---------------------------------------------------------------------------------------------
    @property
    def _table(self) -> str:
        return self.full_name

    def _indexes(self, connection: sqlite3.Connection) -> dict[str, bool]:
        rows = connection.execute(
            "SELECT field, is_unique FROM indexes WHERE collection = ?", (self._table,)
        )
        return {"_id": True, **{field: bool(unique) for field, unique in rows}}

    def _candidate_ids(
        self, connection: sqlite3.Connection, query: dict | None
    ) -> tuple[str, list] | None:
        """SQL (and its parameters) selecting the ids of the documents that may match ``query``; None: none can."""
        if (
            query
            and "_id" in query
            and not isinstance(query["_id"], dict | list)
            and query["_id"] is not None
        ):
            return "SELECT id FROM documents WHERE collection = ? AND id = ?", [
                self._table,
                json_util.dumps(query["_id"]),
            ]
        conditions = candidate_conditions(query, set(self._indexes(connection)) - {"_id"})
        if any(not values for _, values in conditions):
            return None
        if not conditions:
            return "SELECT id FROM documents WHERE collection = ?", [self._table]
        return candidate_sql(self._table, most_selective_first(connection, self._table, conditions))

    def _candidates(self, connection: sqlite3.Connection, query: dict | None) -> list[dict]:
        selection = self._candidate_ids(connection, query)
        if selection is None:
            return []
        sql, parameters = selection
        rows = sorted(
            connection.execute(
                f"SELECT rowid, body FROM documents WHERE collection = ? AND id IN ({sql})",
                (self._table, *parameters),
            )
        )
        return [decode(body) for _, body in rows]

    def _ordered_ids(
        self, connection: sqlite3.Connection, sql: str, parameters: list, sort: list | None
    ) -> Iterable[str] | None:
        """Candidate ids in ``sort`` order from the indexed values alone (no document decoded), in natural order
        when no candidate holds a sort field (FireWorks' checkout sorts by a priority few jobs set: the caller
        then decodes only the first match); None when the sort needs the general path (an unindexed field, an
        array or a document as a sort key). Ids are looked up by primary key and ordered here: SQLite's plan for
        ``ORDER BY rowid`` scans the whole table, a cost that grows with the campaign."""
        in_order = sorted(
            connection.execute(
                f"SELECT rowid, id FROM documents WHERE collection = ? AND id IN ({sql})",
                (self._table, *parameters),
            )
        )
        fields = [field for field, _ in sort or []]
        if not fields:
            return (identifier for _, identifier in in_order)
        if not set(fields) <= set(self._indexes(connection)) or "_id" in fields:
            return None
        rows = connection.execute(
            f"SELECT id, field, value FROM keys WHERE collection = ? AND field IN ({','.join('?' * len(fields))}) AND id IN ({sql})",
            (self._table, *fields, *parameters),
        ).fetchall()
        if not rows:  # every candidate lacks every sort field: all tie, natural order
            return (identifier for _, identifier in in_order)
        return sorted_ids([identifier for _, identifier in in_order], rows, sort)

    def _first_match(
        self, connection: sqlite3.Connection, query: dict | None, sort: list | None
    ) -> list[dict]:
        """The document a single-document operation acts on (``[]``: none), decoding as few as possible."""
        selection = self._candidate_ids(connection, query)
        if selection is None:
            return []
        ordered = self._ordered_ids(connection, *selection, sort)
        if ordered is None:
            return self._candidates(connection, query)  # the scratch collection sorts them all
        for identifier in ordered:
            (body,) = connection.execute(
                "SELECT body FROM documents WHERE collection = ? AND id = ?",
                (self._table, identifier),
            ).fetchone()
            document = decode(body)
            if filter_applies(query or {}, document):
                return [document]
        return []

    def _write(
        self,
        connection: sqlite3.Connection,
        documents: Iterable[dict],
        encoded: list[str] | None = None,
    ) -> None:
        indexes = self._indexes(connection)
        for number, document in enumerate(documents):
            identifier = document_id(document)
            connection.execute(
                "DELETE FROM keys WHERE collection = ? AND id = ?", (self._table, identifier)
            )
            for field, unique in indexes.items():
                if field == "_id":
                    continue
                values = key_values(document, field)
                if unique and values:
                    clash = connection.execute(
                        f"SELECT id FROM keys WHERE collection = ? AND field = ? AND id != ? AND value IN ({','.join('?' * len(values))}) LIMIT 1",
                        (self._table, field, identifier, *values),
                    ).fetchone()
                    if clash:
                        raise mongomock.DuplicateKeyError(
                            f"{self.full_name}: duplicate {field} {min(values)}"
                        )
                connection.executemany(
                    "INSERT INTO keys VALUES (?, ?, ?, ?)",
                    [(self._table, field, v, identifier) for v in values],
                )
            connection.execute(  # an update keeps the row (and so the insertion order MongoDB's natural order is)
                "INSERT INTO documents VALUES (?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body",
                (self._table, identifier, encoded[number] if encoded else encode(document)),
            )

    def _delete(self, connection: sqlite3.Connection, identifiers: Iterable[str]) -> None:
        rows = [(self._table, identifier) for identifier in identifiers]
        connection.executemany("DELETE FROM documents WHERE collection = ? AND id = ?", rows)
        connection.executemany("DELETE FROM keys WHERE collection = ? AND id = ?", rows)

    @staticmethod
    def _scratch(documents: list[dict]):
        collection = _scratch_database()["documents"]
        if documents:
            collection.insert_many(documents)
        return collection

    def _modify(
        self, query: dict | None, operation, single: bool = False, sort: list | None = None
    ) -> Any:
        """Run ``operation(scratch collection)`` on the candidates of ``query`` (``single``: only the document a
        one-document operation would pick) in one write transaction; write back what it inserted, changed or deleted."""
        with self._client.transaction(write=True) as connection:
            found = (
                self._first_match(connection, query, sort)
                if single
                else self._candidates(connection, query)
            )
            before = {document_id(d): d for d in found}
            scratch = self._scratch(list(before.values()))
            result = operation(scratch)
            after = {document_id(d): d for d in scratch.find()}
            self._write(connection, [d for key, d in after.items() if before.get(key) != d])
            self._delete(connection, [key for key in before if key not in after])
        return result

    def _read(
        self,
        query: dict | None,
        operation,
        single: bool = False,
        sort: list | None = None,
        projection=None,
    ) -> Any:
        with self._client.transaction(write=False) as connection:
            found = (
                self._first_match(connection, query, sort)
                if single
                else self._candidates(connection, query)
            )
            return operation(self._scratch(trimmed(found, query, projection, sort)))

    # --- pymongo's collection API ------------------------------------------------------------------------------
    def find(self, filter: dict | None = None, *args, **kwargs):
        projection = args[0] if args else kwargs.get("projection")
        return self._read(
            filter,
            lambda scratch: scratch.find(filter, *args, **kwargs),
            sort=kwargs.get("sort"),
            projection=projection,
        )

    def find_one(self, filter: dict | None = None, *args, **kwargs):
        if filter is not None and not isinstance(filter, dict):
            filter = {"_id": filter}
        return self._read(
            filter,
            lambda scratch: scratch.find_one(filter, *args, **kwargs),
            single=True,
            sort=kwargs.get("sort"),
        )

    def count_documents(self, filter: dict, **kwargs) -> int:
        kwargs.pop("hint", None)
        if not kwargs:
            with self._client.transaction(write=False) as connection:
                conditions = candidate_conditions(filter, set(self._indexes(connection)) - {"_id"})
                # counted from the index, no document read
                if not filter or covered(filter, conditions):
                    selection = self._candidate_ids(connection, filter)
                    if selection is None:
                        return 0
                    # an array may match twice
                    counted = (
                        "DISTINCT id" if any(len(values) > 1 for _, values in conditions) else "*"
                    )
                    return connection.execute(
                        f"SELECT COUNT({counted}) FROM ({selection[0]})", selection[1]
                    ).fetchone()[0]
        return self._read(filter, lambda scratch: scratch.count_documents(filter, **kwargs))

    def estimated_document_count(self, **kwargs) -> int:
        with self._client.transaction(write=False) as connection:
            return connection.execute(
                "SELECT COUNT(*) FROM documents WHERE collection = ?", (self._table,)
            ).fetchone()[0]

    def distinct(self, key: str, filter: dict | None = None, **kwargs) -> list:
        return self._read(filter, lambda scratch: scratch.distinct(key, filter, **kwargs))

    def aggregate(self, pipeline: list[dict], **kwargs):
        """The whole collection (and any collection a ``$lookup`` joins) in scratch, then mongomock's pipeline."""
        kwargs.pop("allowDiskUse", None)
        with self._client.transaction(write=False) as connection:
            database = _scratch_database("aggregate")
            joined = {stage["$lookup"]["from"] for stage in pipeline if "$lookup" in stage}
            for name in {self.name, *joined}:
                documents = self.database[name]._candidates(connection, None)
                if documents:
                    database[name].insert_many(documents)
            return database[self.name].aggregate(pipeline, **kwargs)

    def insert_one(self, document: dict, **kwargs):
        document.setdefault("_id", ObjectId())
        return self._modify(
            {"_id": document["_id"]}, lambda scratch: scratch.insert_one(document, **kwargs)
        )

    def insert_many(self, documents: Iterable[dict], **kwargs):
        documents = list(documents)
        for document in documents:
            document.setdefault("_id", ObjectId())
        with self._client.transaction(write=True) as connection:
            existing = (
                connection.execute(
                    f"SELECT id FROM documents WHERE collection = ? AND id IN ({','.join('?' * len(documents))})",
                    (self._table, *[document_id(d) for d in documents]),
                ).fetchone()
                if documents
                else None
            )
            if existing:
                raise mongomock.DuplicateKeyError(f"{self.full_name}: duplicate _id {existing[0]}")
            bodies = [encode(d) for d in documents]
            self._write(connection, [decode(body) for body in bodies], bodies)
        return InsertManyResult([document["_id"] for document in documents], acknowledged=True)

    def update_one(self, filter: dict, update: dict, upsert: bool = False, **kwargs):
        return self._modify(
            filter,
            lambda scratch: scratch.update_one(filter, update, upsert=upsert, **kwargs),
            single=True,
        )

    def update_many(self, filter: dict, update: dict, upsert: bool = False, **kwargs):
        return self._modify(
            filter, lambda scratch: scratch.update_many(filter, update, upsert=upsert, **kwargs)
        )

    def replace_one(self, filter: dict, replacement: dict, upsert: bool = False, **kwargs):
        if (
            not kwargs
            and filter
            and "_id" not in {*filter, *replacement}
            and not any(k.startswith("$") for k in replacement)
        ):
            with self._client.transaction(
                write=True
            ) as connection:  # maggma's upserts of big documents: no scratch copy
                conditions = candidate_conditions(filter, set(self._indexes(connection)) - {"_id"})
                selection = (
                    self._candidate_ids(connection, filter) if covered(filter, conditions) else None
                )
                if selection is not None:  # the index rows alone say which document matches
                    sql = f"SELECT rowid, id FROM documents WHERE collection = ? AND id IN ({selection[0]})"  # by primary key, not a scan
                    matched = min(
                        connection.execute(sql, (self._table, *selection[1])), default=None
                    )
                    if matched or upsert:
                        new_id = json_util.loads(matched[1]) if matched else ObjectId()
                        self._write(connection, [{"_id": new_id, **decode(encode(replacement))}])
                        raw = {
                            "n": 1,
                            "nModified": int(bool(matched)),
                            "ok": 1.0,
                            "updatedExisting": bool(matched),
                        }
                        return UpdateResult(
                            raw if matched else {**raw, "upserted": new_id}, acknowledged=True
                        )
        return self._modify(
            filter,
            lambda scratch: scratch.replace_one(filter, replacement, upsert=upsert, **kwargs),
            single=True,
        )

    def delete_one(self, filter: dict, **kwargs):
        return self._modify(
            filter, lambda scratch: scratch.delete_one(filter, **kwargs), single=True
        )

    def delete_many(self, filter: dict, **kwargs):
        return self._modify(filter, lambda scratch: scratch.delete_many(filter, **kwargs))

    def _find_and_modify(
        self, method: str, filter: dict, payload: tuple, projection=None, **kwargs
    ):
        """mongomock's find-and-modify on the one document it acts on. The projection is applied afterwards:
        mongomock (4.3) re-reads the document by the query, not by its _id, when the projection drops _id."""
        result = self._modify(
            filter,
            lambda scratch: getattr(scratch, method)(filter, *payload, **kwargs),
            single=True,
            sort=kwargs.get("sort"),
        )
        return (
            result
            if result is None or projection is None
            else self._scratch([result]).find_one({}, projection)
        )

    def find_one_and_update(self, filter: dict, update: dict, projection=None, **kwargs):
        return self._find_and_modify("find_one_and_update", filter, (update,), projection, **kwargs)

    def find_one_and_replace(self, filter: dict, replacement: dict, projection=None, **kwargs):
        return self._find_and_modify(
            "find_one_and_replace", filter, (replacement,), projection, **kwargs
        )

    def find_one_and_delete(self, filter: dict, projection=None, **kwargs):
        return self._find_and_modify("find_one_and_delete", filter, (), projection, **kwargs)

    def bulk_write(self, requests: list, ordered: bool = True, **kwargs):
        """pymongo's requests (maggma sends ReplaceOne), each applied alone; read by ``_filter``/``_doc``/``_upsert``,
        as mongomock does: pymongo 4.19 has no public accessor, and they are its layout since 3.0."""
        for request in requests:
            kind = type(request).__name__
            if kind == "ReplaceOne":
                self.replace_one(request._filter, request._doc, upsert=request._upsert)
            elif kind in ("UpdateOne", "UpdateMany"):
                method = self.update_one if kind == "UpdateOne" else self.update_many
                method(request._filter, request._doc, upsert=request._upsert)
            elif kind == "InsertOne":
                self.insert_one(request._doc)
            elif kind in ("DeleteOne", "DeleteMany"):
                (self.delete_one if kind == "DeleteOne" else self.delete_many)(request._filter)
            else:
                raise NotImplementedError(f"bulk_write: {kind}")

    def create_index(self, keys, unique: bool = False, **kwargs) -> str:
        """Index the field (each field of a compound index; a compound unique index is not enforced): its values
        get ``keys`` rows for candidate lookup and sorting."""
        fields = [keys] if isinstance(keys, str) else [field for field, _ in keys]
        unique = unique and len(fields) == 1
        with self._client.transaction(write=True) as connection:
            known = self._indexes(connection)
            new = [field for field in fields if field not in known or (unique and not known[field])]
            for field in new:
                connection.execute(
                    "INSERT OR REPLACE INTO indexes VALUES (?, ?, ?)",
                    (self._table, field, int(unique)),
                )
            if new:
                # rows for the documents already there
                self._write(connection, self._candidates(connection, None))
        return "_".join(f"{field}_1" for field in fields)

    def index_information(self) -> dict:
        with self._client.transaction(write=False) as connection:
            return {
                f"{field}_1": {"key": [(field, 1)], "unique": unique}
                for field, unique in self._indexes(connection).items()
            }

    def drop(self) -> None:
        with self._client.transaction(write=True) as connection:
            for table in ("documents", "keys", "indexes"):
                connection.execute(f"DELETE FROM {table} WHERE collection = ?", (self._table,))
