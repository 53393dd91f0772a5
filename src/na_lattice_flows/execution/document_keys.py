"""How the SQLite document store finds candidates without reading documents: the values of indexed fields as
``keys`` rows (MongoDB Extended JSON; one row per array element, as MongoDB's queries see arrays), the query
conditions those rows can answer, and MongoDB's sort order of values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bson import ObjectId, json_util


def document_id(document: dict) -> str:
    """The document's _id as text: its key in the embedded store."""
    return json_util.dumps(document["_id"])


def encode(document: dict) -> str:
    """A document as MongoDB Extended JSON, the text ``json_util.dumps`` writes. json's C encoder with
    ``json_util.default`` for what JSON lacks (ObjectId, datetime, bytes) gives the same text several times
    faster than ``json_util.dumps``, which walks every value in Python first: a paper-length MD document holds
    millions of numbers."""
    return json.dumps(document, default=json_util.default)


def decode(body: str) -> dict:
    """``encode`` undone; a body without any Extended JSON type (no ``"$`` in it) needs no object hook."""
    return json_util.loads(body) if '"$' in body else json.loads(body)


def values_at(document: Any, path: list[str]) -> Iterator[Any]:
    """Every value at a dotted path, fanning out over arrays on the way, as MongoDB's queries do."""
    if not path:
        if isinstance(document, list):
            yield from document
        yield document
        return
    if isinstance(document, dict):
        if path[0] in document:
            yield from values_at(document[path[0]], path[1:])
    elif isinstance(document, list):
        for item in document:
            yield from values_at(item, path)


def key(value: Any) -> str:
    """A value as a ``keys`` row: Extended JSON, with integral floats as integers (MongoDB: 1 == 1.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json_util.dumps(value)


def key_values(document: dict, field: str) -> set[str]:
    """The ``keys`` rows of one indexed field: scalar values (and whole arrays) as Extended JSON."""
    return {
        key(value) for value in values_at(document, field.split(".")) if not isinstance(value, dict)
    }


def candidate_conditions(query: dict | None, indexed: set[str]) -> list[tuple[str, list[str]]]:
    """(field, allowed key values) for each indexed field that ``query`` pins to values (equality or $in, no
    None: MongoDB's null also matches a missing field, which has no key rows). An empty list: nothing matches."""
    conditions = []
    for field, condition in (query or {}).items():
        if field.startswith("$") or field not in indexed:
            continue
        if isinstance(condition, dict) and set(condition) == {"$in"}:
            values = list(condition["$in"])
        elif isinstance(condition, dict | list):
            continue  # operators, or whole-array equality: no narrowing
        else:
            values = [condition]
        if not any(value is None or isinstance(value, dict | list) for value in values):
            conditions.append((field, [key(value) for value in values]))
    return conditions


def covered(query: dict | None, conditions: list[tuple[str, list[str]]]) -> bool:
    """Whether ``conditions`` are the whole of ``query``: then the ``keys`` rows alone decide which documents
    match (equality and $in on a value, or on an element of an array, are what the rows hold)."""
    return bool(query) and len(conditions) == len(query)


def candidate_sql(table: str, conditions: list[tuple[str, list[str]]]) -> tuple[str, list]:
    """SQL (and its parameters) selecting the ids whose ``keys`` rows meet every condition, driven by the first
    condition (the caller puts the most selective first), the others checked per id through the
    ``keys_of_document`` index (named: SQLite's planner, which has no statistics of values, otherwise may scan a
    whole collection). An id may come more than once (array elements). An INTERSECT instead reads every row of
    each condition: a checkout's ``state = READY`` holds a row per waiting firework, so its cost grows with the
    campaign."""
    (field, values), others = conditions[0], conditions[1:]
    sql = f"SELECT id FROM keys AS k INDEXED BY keys_lookup WHERE collection = ? AND field = ? AND value IN ({','.join('?' * len(values))})"
    for other_field, other_values in others:
        sql += (
            " AND EXISTS (SELECT 1 FROM keys INDEXED BY keys_of_document WHERE collection = k.collection AND id = k.id AND field = ?"
            f" AND value IN ({','.join('?' * len(other_values))}))"
        )
    return sql, [
        table,
        field,
        *values,
        *[item for other_field, other_values in others for item in (other_field, *other_values)],
    ]


def most_selective_first(
    connection: Any, table: str, conditions: list[tuple[str, list[str]]], probe_rows: int = 1000
) -> list:
    """``conditions`` ordered by how many ``keys`` rows each selects in ``connection`` (an sqlite3 connection),
    counted no further than ``probe_rows``: the index answers each count in well under a millisecond."""
    if len(conditions) < 2:
        return conditions

    def rows(condition: tuple[str, list[str]]) -> int:
        field, values = condition
        sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM keys WHERE collection = ? AND field = ? AND value IN ({','.join('?' * len(values))}) LIMIT ?)"
        return connection.execute(sql, (table, field, *values, probe_rows)).fetchone()[0]

    return sorted(conditions, key=rows)


# MongoDB's order of types in a sort (null < numbers < strings < ObjectId < booleans < dates); documents, arrays
# and other types as sort keys take the general path
SORT_RANK = {type(None): 1, int: 2, float: 2, str: 3, ObjectId: 7, bool: 8, datetime: 9}


def sort_key(values: list, directions: list[int]) -> tuple:
    """A key that orders rows as MongoDB sorts ``values`` with ``directions`` (1 ascending, -1
    descending)."""
    key = []
    for value, direction in zip(values, directions, strict=True):
        rank = SORT_RANK[type(value)]
        if direction < 0:  # a descending field: invert so that one ascending sort orders them all
            key.append((-rank, _Reversed(value)))
        else:
            key.append((rank, value))
    return tuple(key)


class _Reversed:
    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value


def trimmed(documents: list[dict], query: dict | None, projection, sort) -> list[dict]:
    """For a projection that names the fields to keep, only the top-level fields it, the query and the sort
    touch go into the scratch collection (copying whole documents there cost more than the query); any other
    projection, or a query with top-level operators ($or, ...), keeps documents whole."""
    if (
        not isinstance(projection, dict)
        or not projection
        or any(key.startswith("$") for key in query or {})
    ):
        return documents
    kept = {key for key, value in projection.items() if value} - {"_id"}
    if (
        not kept
        or any(not value for key, value in projection.items() if key != "_id")
        or any(isinstance(value, dict) for value in projection.values())
    ):
        return documents  # an exclusion or an operator ($slice, $elemMatch) projection
    needed = {
        field.split(".")[0]
        for field in [*kept, *(query or {}), *(field for field, _ in sort or [])]
    } | {"_id"}
    return [
        {key: value for key, value in document.items() if key in needed} for document in documents
    ]


def sorted_ids(ids: list[str], rows: list[tuple[str, str, str]], sort: list) -> list[str] | None:
    """``ids`` (in insertion order) in ``sort`` order from the ``keys`` rows (id, field, value) of the sort
    fields; None when a document has no single plain value of a sort field (an array, a document: the general
    path)."""
    values: dict[str, dict[str, list]] = {}
    for identifier, field, value in rows:
        values.setdefault(identifier, {}).setdefault(field, []).append(json_util.loads(value))
    fields = [field for field, _ in sort]
    keys = {}
    for identifier in ids:
        found = values.get(identifier, {})
        if any(len(found.get(field, [None])) != 1 for field in fields):
            return None
        sort_values = [found.get(field, [None])[0] for field in fields]
        if any(type(value) not in SORT_RANK for value in sort_values):
            return None
        keys[identifier] = sort_key(sort_values, [direction for _, direction in sort])
    return sorted(ids, key=keys.__getitem__)  # stable: ties keep insertion order
