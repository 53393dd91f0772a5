"""Launching jobs on this machine through FireWorks' rocket launcher, counting them, and recovering the jobs of
workers that died."""

from __future__ import annotations

import contextlib
import datetime
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

from na_lattice_flows.execution.stores import Session

logger = logging.getLogger(__name__)

UNFINISHED_STATES = ("WAITING", "READY", "RESERVED", "RUNNING", "PAUSED")


@dataclass(frozen=True)
class LostRun:
    fw_id: int
    name: str
    host: str | None
    launch_dir: str | None


def recover_lost_runs(session: Session, expiration_secs: float = RUN_EXPIRATION_SECS) -> list[LostRun]:
    """Put jobs whose worker died back in the queue; returns them.

    On MongoDB a job is lost when its worker has not pinged it for ``expiration_secs`` (FireWorks'
    ``detect_lostruns``: a live worker pings every ``PING_TIME_SECS``, an hour by default). On the embedded
    store this process holds the only lock, so no job can be running anywhere: every RUNNING or RESERVED job
    belonged to a worker that was killed. A rerun MD job resumes from its checkpoint."""
    if session.settings.mode == "mongodb":
        _, fw_ids, _ = session.launchpad.detect_lostruns(expiration_secs=expiration_secs, rerun=True)
    else:
        fw_ids = [doc["fw_id"] for doc in session.launchpad.fireworks.find({"state": {"$in": ["RUNNING", "RESERVED"]}}, {"fw_id": 1})]
        for fw_id in fw_ids:
            session.launchpad.rerun_fw(fw_id)
    lost = []
    for fw_id in fw_ids:
        firework = session.launchpad.fireworks.find_one({"fw_id": fw_id}, {"name": 1, "archived_launches": 1})
        launch = session.launchpad.launches.find_one(
            {"launch_id": {"$in": firework.get("archived_launches", [])}}, {"host": 1, "launch_dir": 1}, sort=[("launch_id", -1)]
        ) or {}
        lost.append(LostRun(fw_id, firework["name"], launch.get("host"), launch.get("launch_dir")))
    session.save()
    return lost


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
        raise FileNotFoundError(f"--fworker {path}: no such worker file")
    return FWorker.from_file(str(path))


def run_ready_jobs(
    session: Session,
    fworker: FWorker | None = None,
    max_jobs: int | None = None,
    progress: bool = True,
    job_logs: bool = True,
) -> int:
    """Launch ready jobs one at a time on this machine until none is left (or ``max_jobs``); returns the
    number launched. The embedded LaunchPad is saved when a job starts and when it ends, so a killed run
    loses no result, and its lost jobs are rerun first (on MongoDB that is ``recover_lost_runs``' work, or
    ``lpad detect_lostruns --rerun``). With ``job_logs`` each job's output goes to ``rocket.log`` in its launch
    folder instead of the screen."""
    from jobflow import SETTINGS

    if session.settings.mode == "embedded":
        for lost in recover_lost_runs(session):
            logger.warning("rerunning %r (fw %d), left running by a worker that died (launch folder %s)", lost.name, lost.fw_id, lost.launch_dir)
    SETTINGS.JOB_STORE = session.job_store
    fworker = fworker or FWorker(name="na-flows-local")
    session.settings.runs_dir.mkdir(parents=True, exist_ok=True)
    pending = session.launchpad.fireworks.count_documents({"state": {"$in": list(UNFINISHED_STATES)}})
    launched = 0
    with tqdm(total=pending, desc="jobs", unit="job", disable=not progress) as bar:
        while max_jobs is None or launched < max_jobs:
            launch_dir = session.settings.runs_dir / f"launcher_{datetime.datetime.now():%Y%m%d-%H%M%S-%f}"
            launch_dir.mkdir()
            quiet = _stdout_into(launch_dir / "rocket.log") if job_logs else contextlib.nullcontext()
            # no separate run_exists query first: on the embedded store each such query sorts the whole LaunchPad
            with contextlib.chdir(launch_dir), quiet:
                ran = launch_rocket(session.launchpad, fworker, strm_lvl="INFO")
            if not ran:
                shutil.rmtree(launch_dir)
                break
            session.save()
            launched += 1
            bar.update()
    return launched
