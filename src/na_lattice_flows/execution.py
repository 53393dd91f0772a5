"""Submitting flows to the LaunchPad and launching them on this machine, through FireWorks.

Flows go through the production path even on the embedded default: ``flow_to_workflow`` -> ``LaunchPad.add_wf``
-> ``launch_rocket``. Workflows carry no store in their spec: each worker writes to the JobStore it is
configured with (jobflow's ``JOB_STORE`` setting), so credentials never travel inside the database.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fireworks import FWorker
from fireworks.core.rocket_launcher import launch_rocket
from fireworks.fw_config import RUN_EXPIRATION_SECS
from jobflow import Flow, Job
from jobflow.managers.fireworks import flow_to_workflow
from tqdm.auto import tqdm

from na_lattice_flows.candidates import Candidate, Rejection
from na_lattice_flows.fingerprints import StructureIdentity, same_crystal, settings_fingerprint, structure_identity
from na_lattice_flows.jobs import relax_method
from na_lattice_flows.routing import route
from na_lattice_flows.schemas import CampaignRecord
from na_lattice_flows.screening import ScreeningReport
from na_lattice_flows.stores import Session, get_campaign_store
from na_lattice_flows.workflows import ScreeningFlowMaker

logger = logging.getLogger(__name__)

UNFINISHED_STATES = ("WAITING", "READY", "RESERVED", "RUNNING", "PAUSED")


@dataclass(frozen=True)
class SubmittedStructure:
    """A structure that already has a workflow with some settings: what a new submission is checked against."""

    candidate_id: str
    fw_id: int
    state: str
    canonical_cell: str


def submitted_structures(session: Session) -> dict[tuple[str, str], list[SubmittedStructure]]:
    """Workflows on the LaunchPad by (structure fingerprint, settings fingerprint)."""
    index: dict[tuple[str, str], list[SubmittedStructure]] = defaultdict(list)
    projection = {"metadata": 1, "state": 1, "nodes": 1}
    for workflow in session.launchpad.workflows.find({"metadata.fingerprint": {"$exists": True}}, projection):
        metadata = workflow["metadata"]
        index[(metadata["fingerprint"], metadata["settings_fingerprint"])].append(
            SubmittedStructure(metadata["candidate_id"], min(workflow["nodes"]), workflow["state"], metadata["canonical_cell"])
        )
    return index


def _repeat_of(candidate: Candidate, identity: StructureIdentity, settings: str, index: dict) -> SubmittedStructure | None:
    for submitted in index.get((identity.fingerprint, settings), []):
        if same_crystal(candidate.structure, submitted.canonical_cell):
            return submitted
    return None


def submit_candidates(
    session: Session,
    report: ScreeningReport,
    inputs: Iterable[str],
    flow_maker: ScreeningFlowMaker | None = None,
    force: bool = False,
) -> CampaignRecord:
    """Add one screening workflow per accepted candidate and record the campaign (with every rejection).

    Idempotent: a candidate whose crystal (symmetry-aware fingerprint, confirmed by StructureMatcher) already
    has a workflow with the same flow settings, submitted, running, finished or failed, is not added again
    but listed with that workflow; ``force`` adds it anyway."""
    flow_maker = flow_maker or ScreeningFlowMaker()
    campaign_id = f"campaign-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    settings = settings_fingerprint(flow_maker)
    index = submitted_structures(session)
    submitted: dict[str, int] = {}
    rejections = list(report.rejections)
    for candidate in tqdm(report.accepted, desc="submitting", unit="flow", disable=len(report.accepted) < 20):
        identity = structure_identity(candidate.structure)
        repeat = None if force else _repeat_of(candidate, identity, settings, index)
        if repeat is not None:
            reason = (f"already submitted with the same settings as {repeat.candidate_id} (workflow {repeat.fw_id}, "
                      f"{repeat.state}): use --force to resubmit")  # fmt: skip
            rejections.append(Rejection(candidate_id=candidate.candidate_id, source=candidate.source, reason=reason))
            continue
        metadata = {
            "candidate_id": candidate.candidate_id,
            "formula": candidate.formula,
            "campaign_id": campaign_id,
            "fingerprint": identity.fingerprint,
            "settings_fingerprint": settings,
            "canonical_cell": identity.canonical_cell,
        }
        fw_id = add_flow(session, flow_maker.make(candidate), f"screen {candidate.candidate_id} {candidate.formula}", metadata)
        submitted[candidate.candidate_id] = fw_id
        index[(identity.fingerprint, settings)].append(SubmittedStructure(candidate.candidate_id, fw_id, "READY", identity.canonical_cell))
    session.save()
    record = CampaignRecord(
        campaign_id=campaign_id,
        created_at=datetime.datetime.now(datetime.UTC).isoformat(),
        inputs=list(inputs),
        model=relax_method(flow_maker.relax_maker),
        submitted=submitted,
        rejections=rejections,
    )
    campaigns = get_campaign_store(session.settings)
    campaigns.connect()
    try:
        campaigns.update(record.model_dump(mode="json"), key="campaign_id")
    finally:
        campaigns.close()
    return record


def add_flow(session: Session, flow: Flow | Job, name: str, metadata: dict | None = None) -> int:
    """Route ``flow``'s jobs to their worker categories, convert it to a FireWorks workflow and add it; returns
    the workflow's first fw_id. Every submission path goes through here."""
    workflow = flow_to_workflow(route(flow))
    workflow.name = name
    workflow.metadata.update(metadata or {})
    old_to_new = session.launchpad.add_wf(workflow)
    return min(old_to_new.values())


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
