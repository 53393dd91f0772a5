"""Faults a long-running worker meets on the embedded store: the disk fills (SQLite's page limit stands in for
a full disk: the same SQLITE_FULL answer), a process killed inside a write transaction, and another process
holding the lock on a disk whose locking answers "locked" at once instead of waiting."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from na_lattice_flows.execution import sqlite_documents
from na_lattice_flows.execution.sqlite_documents import (
    SQLiteDocumentClient,
    StoreFullError,
    StoreLockedError,
)


def integrity(path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def test_a_full_disk_is_a_named_error_that_leaves_the_store_intact(tmp_path):
    path = tmp_path / "store.sqlite"
    client = SQLiteDocumentClient(path)
    fireworks = client["db"]["fireworks"]
    fireworks.create_index("fw_id", unique=True)
    fireworks.insert_many([{"fw_id": i, "state": "READY"} for i in range(10)])
    connection = client._connection()
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full: no page more
    with pytest.raises(
        StoreFullError, match=r"store\.sqlite: no space left to write .*Nothing was half written"
    ):
        fireworks.insert_many([{"fw_id": 100 + i, "blob": "x" * 20_000} for i in range(20)])
    with pytest.raises(StoreFullError):
        fireworks.update_many({}, {"$set": {"blob": "y" * 50_000}})
    assert integrity(path) == "ok"
    # nothing half written
    assert (
        fireworks.count_documents({}) == 10
        and fireworks.find_one({"blob": {"$exists": True}}) is None
    )
    # space again (a new process: the limit was this connection's): the next worker carries on
    fresh = SQLiteDocumentClient(path)["db"]["fireworks"]
    fresh.update_one({"fw_id": 3}, {"$set": {"state": "COMPLETED"}})
    assert fresh.count_documents({"state": "COMPLETED"}) == 1


KILLED_WRITER = """
import os, signal, sys
from na_lattice_flows.execution.sqlite_documents import SQLiteDocumentClient
client = SQLiteDocumentClient(sys.argv[1])
collection = client["db"]["fireworks"]
with client.transaction(write=True):
    collection.insert_many([{"fw_id": 1000 + i, "state": "READY"} for i in range(500)])
    collection.update_many({"state": "READY"}, {"$set": {"state": "RUNNING"}})
    print("written, not committed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_writer_killed_inside_its_transaction_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "store.sqlite"
    fireworks = SQLiteDocumentClient(path)["db"]["fireworks"]
    fireworks.create_index("fw_id", unique=True)
    fireworks.create_index("state")
    fireworks.insert_many([{"fw_id": i, "state": "READY"} for i in range(20)])
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # it got as far as the writes, then died
    assert run.returncode == -9 and "written, not committed" in run.stdout
    assert integrity(path) == "ok"
    reader = SQLiteDocumentClient(path)["db"]["fireworks"]
    assert reader.count_documents({}) == 20 and reader.count_documents({"state": "RUNNING"}) == 0
    # the index rows too: as before the transaction
    assert reader.count_documents({"state": "READY"}) == 20
    reader.insert_one({"fw_id": 1000, "state": "READY"})  # the killed writer's id was never taken
    assert reader.count_documents({"state": "READY"}) == 21


def hold_write_lock(path, seconds: float, started: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    connection.execute("COMMIT")
    connection.close()


def test_lock_answers_are_retried_with_backoff_and_a_lock_that_stays_is_named(
    tmp_path, monkeypatch
):
    path = tmp_path / "store.sqlite"
    SQLiteDocumentClient(path)["db"]["fireworks"].insert_one({"fw_id": 0})
    # SQLite answers "locked" at once, as on a network disk
    monkeypatch.setattr(sqlite_documents, "BUSY_TIMEOUT_S", 0.0)
    started = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, 0.6, started))
    holder.start()
    started.wait()
    waiting = SQLiteDocumentClient(path)["db"]["fireworks"]
    begun = time.monotonic()
    # retried until the other writer commits: no traceback, no lost write
    waiting.insert_one({"fw_id": 1})
    holder.join()
    assert time.monotonic() - begun >= 0.5 and waiting.count_documents({}) == 2
    monkeypatch.setattr(sqlite_documents, "LOCK_RETRY_S", 0.3)
    started.clear()
    holder = threading.Thread(target=hold_write_lock, args=(path, 1.5, started))
    holder.start()
    started.wait()
    with pytest.raises(
        StoreLockedError, match=r"store\.sqlite: still locked by another process after 0 s"
    ):
        SQLiteDocumentClient(path)["db"]["fireworks"].insert_one({"fw_id": 2})
    holder.join()
