"""Launching jobs on this machine through FireWorks' rocket launcher, counting them, and recovering the jobs of
workers that died."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import logging
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fireworks import FWorker
from fireworks.core.rocket_launcher import launch_rocket
from fireworks.fw_config import RUN_EXPIRATION_SECS
from tqdm.auto import tqdm

from na_lattice_flows.errors import MissingInputError
from na_lattice_flows.execution.stores import Session
from na_lattice_flows.execution.workers import forget_dead_workers, is_alive, registered_worker

logger = logging.getLogger(__name__)

UNFINISHED_STATES = ("WAITING", "READY", "RESERVED", "RUNNING", "PAUSED")


@dataclass(frozen=True)
class LostRun:
    """A job left RUNNING by a worker that is gone."""

    fw_id: int
    name: str
    host: str | None
    launch_dir: str | None


def recover_lost_runs(
    session: Session, expiration_secs: float = RUN_EXPIRATION_SECS
) -> list[LostRun]:
    """Put jobs whose worker died back in the queue; returns them.

    On MongoDB a job is lost when its worker has not pinged it for ``expiration_secs`` (FireWorks'
    ``detect_lostruns``: a live worker pings every ``PING_TIME_SECS``, an hour by default). On the embedded
    store a job is lost as soon as the worker named in its launch no longer holds its lock (``workers``): killed,
    crashed, or its machine rebooted. A rerun MD job resumes from its checkpoint."""
    if session.settings.mode == "mongodb":
        _, fw_ids, _ = session.launchpad.detect_lostruns(
            expiration_secs=expiration_secs, rerun=True
        )
    else:
        with (session.settings.workdir / ".recover.lock").open(
            "a"
        ) as lock:  # one recovery at a time
            fcntl.flock(lock, fcntl.LOCK_EX)
            fw_ids = [fw_id for fw_id in _running_fw_ids(session) if _owner_is_gone(session, fw_id)]
            for fw_id in fw_ids:
                # again, just before: a live worker may have taken it since
                if _owner_is_gone(session, fw_id):
                    session.launchpad.rerun_fw(fw_id)
            forget_dead_workers(session.settings.workdir)
    lost = []
    for fw_id in fw_ids:
        firework = session.launchpad.fireworks.find_one(
            {"fw_id": fw_id}, {"name": 1, "archived_launches": 1}
        )
        launch = (
            session.launchpad.launches.find_one(
                {"launch_id": {"$in": firework.get("archived_launches", [])}},
                {"host": 1, "launch_dir": 1},
                sort=[("launch_id", -1)],
            )
            or {}
        )
        lost.append(LostRun(fw_id, firework["name"], launch.get("host"), launch.get("launch_dir")))
    return lost


WORKER_ENV_KEY = "na_flows_worker"  # in a launch's fworker.env: the registered worker that made it
ORPHAN_GRACE_S = (
    60.0  # a job reserved without a launch for this long was reserved by a worker that died
)


def _running_fw_ids(session: Session) -> list[int]:
    return [
        doc["fw_id"]
        for doc in session.launchpad.fireworks.find(
            {"state": {"$in": ["RUNNING", "RESERVED"]}}, {"fw_id": 1}
        )
    ]


def _owner_is_gone(session: Session, fw_id: int) -> bool:
    """Whether the running (or reserved) job ``fw_id`` has no live worker: the worker of its latest launch is
    dead, or it has had no launch for ``ORPHAN_GRACE_S`` (FireWorks reserves a job a moment before it records
    the launch)."""
    firework = session.launchpad.fireworks.find_one(
        {"fw_id": fw_id}, {"state": 1, "launches": 1, "updated_on": 1}
    )
    if firework is None or firework["state"] not in ("RUNNING", "RESERVED"):
        return False
    launch = session.launchpad.launches.find_one(
        {"launch_id": {"$in": firework.get("launches", [])}},
        {"fworker": 1},
        sort=[("launch_id", -1)],
    )
    if launch is None:
        updated = firework.get("updated_on")
        updated = datetime.datetime.fromisoformat(str(updated)) if updated else None
        if updated is not None and updated.tzinfo is None:
            updated = updated.replace(tzinfo=datetime.UTC)
        return (
            updated is None
            or (datetime.datetime.now(datetime.UTC) - updated).total_seconds() > ORPHAN_GRACE_S
        )
    return not is_alive(
        session.settings.workdir,
        ((launch.get("fworker") or {}).get("env") or {}).get(WORKER_ENV_KEY, ""),
    )


def running_jobs(session: Session) -> list[dict]:
    """What each worker is running now: one row per RUNNING launch (worker, host, fw_id, job name, start)."""
    rows = []
    for launch in session.launchpad.launches.find(
        {"state": "RUNNING"}, {"launch_id": 1, "fw_id": 1, "fworker": 1, "host": 1, "time_start": 1}
    ):
        fworker = launch.get("fworker") or {}
        firework = (
            session.launchpad.fireworks.find_one(
                {"fw_id": launch["fw_id"]}, {"name": 1, "state": 1, "launches": 1}
            )
            or {}
        )
        if firework.get("state") != "RUNNING" or launch.get("launch_id") not in firework.get(
            "launches", []
        ):
            continue  # an archived launch of a job rerun since (its dead worker's launch stays RUNNING)
        worker = (fworker.get("env") or {}).get(WORKER_ENV_KEY) or fworker.get("name", "?")
        rows.append(
            {
                "worker": worker,
                "host": launch.get("host"),
                "fw_id": launch["fw_id"],
                "job": firework.get("name"),
                "since": str(launch.get("time_start", ""))[:19],
            }
        )
    return sorted(rows, key=lambda row: (row["worker"], row["fw_id"]))


def fw_state_counts(session: Session) -> dict[str, int]:
    """Number of Fireworks (jobs) in each state."""
    return dict(Counter(doc["state"] for doc in session.launchpad.fireworks.find({}, {"state": 1})))


@contextlib.contextmanager
def _stdout_into(path: Path) -> Iterator[None]:
    """Send this process's standard output (file descriptor 1, so also the libraries' log handlers and
    prints) into ``path`` for the duration; progress bars stay on standard error."""
    sys.stdout.flush()
    saved = os.dup(1)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def fworker_from_file(path: str | Path) -> FWorker:
    """A FireWorks worker file (``fworker_configs/``): its name and the job categories it takes."""
    if not Path(path).is_file():
        raise MissingInputError(f"--fworker {path}: no such worker file")
    return FWorker.from_file(str(path))


def run_ready_jobs(
    session: Session,
    fworker: FWorker | None = None,
    max_jobs: int | None = None,
    progress: bool = True,
    job_logs: bool = True,
) -> int:
    """Launch ready jobs one at a time on this machine until none is left (or ``max_jobs``); returns the
    number launched. On the embedded store this process registers as a worker (``workers``), and the jobs of
    workers that died are rerun first (on MongoDB that is ``recover_lost_runs``' work, or ``lpad detect_lostruns
    --rerun``); several such processes share one store. With ``job_logs`` each job's output goes to ``rocket.log``
    in its launch folder instead of the screen."""
    if session.settings.mode == "embedded":
        with registered_worker(session.settings.workdir) as name:
            for lost in recover_lost_runs(session):
                logger.warning(
                    "rerunning %r (fw %d), left running by a worker that died (launch folder %s)",
                    lost.name,
                    lost.fw_id,
                    lost.launch_dir,
                )
            fworker = fworker or FWorker(name="na-flows-local")
            # the registered name goes into every launch this worker makes (its env is recorded with it): how a
            # dead worker's jobs are found; the FireWorks name stays the user's (jobs may be pinned to it)
            named = FWorker.from_dict(
                {**fworker.to_dict(), "env": {**fworker.env, WORKER_ENV_KEY: name}}
            )
            return _launch_until_done(session, named, max_jobs, progress, job_logs)
    return _launch_until_done(
        session, fworker or FWorker(name="na-flows-local"), max_jobs, progress, job_logs
    )


def _launch_until_done(
    session: Session, fworker: FWorker, max_jobs: int | None, progress: bool, job_logs: bool
) -> int:
    from jobflow import SETTINGS

    SETTINGS.JOB_STORE = session.job_store
    session.settings.runs_dir.mkdir(parents=True, exist_ok=True)
    pending = session.launchpad.fireworks.count_documents(
        {"state": {"$in": list(UNFINISHED_STATES)}}
    )
    launched = 0
    with tqdm(total=pending, desc="jobs", unit="job", disable=not progress) as bar:
        while max_jobs is None or launched < max_jobs:
            launch_dir = (
                session.settings.runs_dir
                / f"launcher_{datetime.datetime.now():%Y%m%d-%H%M%S-%f}-{os.getpid()}"
            )
            launch_dir.mkdir()
            quiet = (
                _stdout_into(launch_dir / "rocket.log") if job_logs else contextlib.nullcontext()
            )
            with contextlib.chdir(launch_dir), quiet:
                ran = launch_rocket(session.launchpad, fworker, strm_lvl="INFO")
            if not ran:
                shutil.rmtree(launch_dir)
                # nothing ready: before stopping, take back what a worker that died meanwhile left running
                if session.settings.mode == "embedded" and recover_lost_runs(session):
                    continue
                break
            launched += 1
            bar.update()
    return launched
