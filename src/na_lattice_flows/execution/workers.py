"""Who is working on an embedded store: each ``na-flows run`` process holds an exclusive lock on
``<workdir>/workers/<name>.lock`` for its whole life (the name is also its FireWorks worker name, recorded in
every launch it makes). The kernel drops the lock when the process ends, however it ends (SIGKILL included), so a
job left RUNNING by a worker whose lock is free belonged to a worker that died: that is how the embedded store
finds lost runs at once, where MongoDB waits for FireWorks' ping to expire. The store is on one machine, and so
are its workers and their locks."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

WORKERS_FOLDER = "workers"


def _folder(workdir: Path) -> Path:
    return Path(workdir) / WORKERS_FOLDER


@contextmanager
def registered_worker(workdir: Path) -> Iterator[str]:
    """Register this process as a worker of the store in ``workdir`` for the duration; yields its name."""
    folder = _folder(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"na-flows-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    lock_path, info_path = folder / f"{name}.lock", folder / f"{name}.json"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info_path.write_text(
            json.dumps(
                {
                    "name": name,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )
        try:
            yield name
        finally:
            info_path.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_alive(workdir: Path, name: str) -> bool:
    """Whether the worker ``name`` still holds its lock (False also for a name this store never registered)."""
    lock_path = _folder(workdir) / f"{name}.lock"
    if not lock_path.is_file():
        return False
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def live_workers(workdir: Path) -> list[dict]:
    """The registered workers that are alive (their records: name, host, pid, started); a dead one's files are
    left for ``forget_dead_workers``."""
    folder = _folder(workdir)
    records = []
    for info_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(info_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # being written or removed right now
        if is_alive(workdir, record["name"]):
            records.append(record)
    return records


def forget_dead_workers(workdir: Path, min_age_s: float = 60.0) -> None:
    """Remove the files of workers that died (a killed process cannot remove its own); files younger than
    ``min_age_s`` are left alone (a worker starting now creates its lock file a moment before it locks it)."""
    import time

    folder = _folder(workdir)
    for lock_path in folder.glob("*.lock") if folder.is_dir() else []:
        if time.time() - lock_path.stat().st_mtime > min_age_s and not is_alive(
            workdir, lock_path.stem
        ):
            lock_path.unlink(missing_ok=True)
            lock_path.with_suffix(".json").unlink(missing_ok=True)
