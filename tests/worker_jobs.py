"""Jobs for the concurrent-worker tests, importable by the worker processes (PYTHONPATH=tests): each records
which process ran it, then works for a while."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobflow import job


@job
def recorded_sleep(index: int, seconds: float, marker_dir: str) -> dict:
    """Append this process's pid to ``<marker_dir>/<index>.runs``, then sleep ``seconds``."""
    with (Path(marker_dir) / f"{index}.runs").open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return {"index": index, "pid": os.getpid()}
