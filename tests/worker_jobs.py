"""Jobs for the concurrent-worker tests, importable by the worker processes (PYTHONPATH=tests): each records
which process ran it, then holds until the test releases it, so the test sees every worker inside a job however
slowly the machine starts them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobflow import job

RELEASE_FILE = "release"
RERUN_RELEASE_FILE = "release-reruns"  # a job's second run holds until this one exists


@job
def recorded_wait(index: int, marker_dir: str, timeout_s: float = 300.0) -> dict:
    """Append this process's pid to ``<marker_dir>/<index>.runs``, then wait for ``<marker_dir>/release`` (a
    rerun: for ``release-reruns``)."""
    markers = Path(marker_dir)
    with (markers / f"{index}.runs").open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    rerun = len((markers / f"{index}.runs").read_text().split()) > 1
    release = markers / (RERUN_RELEASE_FILE if rerun else RELEASE_FILE)
    deadline = time.monotonic() + timeout_s
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {index} was never released ({release} missing)")
        time.sleep(0.05)
    return {"index": index, "pid": os.getpid()}


@job
def fill_the_disk_once(marker_dir: str) -> dict:
    """On its first run, leave the embedded store no page to grow into (SQLite's page limit: the SQLITE_FULL a
    full disk gives), then return an output that needs space; on a rerun (the marker is there), just return."""
    marker = Path(marker_dir) / "filled"
    if not marker.exists():
        marker.write_text("full")
        from na_lattice_flows.execution import sqlite_documents

        connect = sqlite_documents.SQLiteDocumentClient._connection

        def no_room(self):
            connection = connect(self)
            connection.execute(
                f"PRAGMA max_page_count = {connection.execute('PRAGMA page_count').fetchone()[0]}"
            )
            return connection

        sqlite_documents.SQLiteDocumentClient._connection = no_room
    return {"blob": "x" * 200_000}


@job
def refuse(reason: str) -> dict:
    """A job that fails with ``reason`` (a study's job that failed on a worker)."""
    raise RuntimeError(reason)
