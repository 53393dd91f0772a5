"""Submitting flows to the LaunchPad and launching them on this machine, through FireWorks.

Flows go through the production path even on the embedded default: ``flow_to_workflow`` -> ``LaunchPad.add_wf``
-> ``launch_rocket``. Workflows carry no store in their spec: each worker writes to the JobStore it is
configured with (jobflow's ``JOB_STORE`` setting), so credentials never travel inside the database.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from fireworks import FWorker
from fireworks.core.rocket_launcher import launch_rocket
from jobflow.managers.fireworks import flow_to_workflow
from tqdm.auto import tqdm

from na_lattice_flows.candidates import Candidate, Rejection
from na_lattice_flows.schemas import CampaignRecord
from na_lattice_flows.screening import ScreeningReport
from na_lattice_flows.stores import Session, get_campaign_store
from na_lattice_flows.workflows import ScreeningFlowMaker

UNFINISHED_STATES = ("WAITING", "READY", "RESERVED", "RUNNING", "PAUSED")


def submitted_candidate_ids(session: Session) -> set[str]:
    """Candidates that already have a workflow on the LaunchPad."""
    return set(session.launchpad.workflows.distinct("metadata.candidate_id"))


def submit_candidates(
    session: Session,
    report: ScreeningReport,
    inputs: Iterable[str],
    flow_maker: ScreeningFlowMaker | None = None,
    force: bool = False,
) -> CampaignRecord:
    """Add one screening workflow per accepted candidate and record the campaign (with every rejection).

    A candidate whose id already has a workflow is skipped (and listed as such) unless ``force``.
    """
    flow_maker = flow_maker or ScreeningFlowMaker()
    campaign_id = f"campaign-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    already = set() if force else submitted_candidate_ids(session)
    submitted: dict[str, int] = {}
    rejections = list(report.rejections)
    for candidate in tqdm(report.accepted, desc="submitting", unit="flow", disable=len(report.accepted) < 20):
        if candidate.candidate_id in already:
            rejections.append(
                Rejection(candidate_id=candidate.candidate_id, source=candidate.source, reason="already submitted: use --force to resubmit")
            )
            continue
        submitted[candidate.candidate_id] = _add_flow(session, flow_maker, candidate, campaign_id)
    session.save()
    record = CampaignRecord(
        campaign_id=campaign_id,
        created_at=datetime.datetime.now(datetime.UTC).isoformat(),
        inputs=list(inputs),
        model=flow_maker.relax_maker.model,
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


def _add_flow(session: Session, flow_maker: ScreeningFlowMaker, candidate: Candidate, campaign_id: str) -> int:
    workflow = flow_to_workflow(flow_maker.make(candidate))
    workflow.name = f"screen {candidate.candidate_id} {candidate.formula}"
    workflow.metadata.update(
        {"candidate_id": candidate.candidate_id, "formula": candidate.formula, "campaign_id": campaign_id}
    )
    old_to_new = session.launchpad.add_wf(workflow)
    return min(old_to_new.values())


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
    number launched. The embedded LaunchPad is saved after every job, so a killed run loses no result.
    With ``job_logs`` each job's output goes to ``rocket.log`` in its launch folder instead of the screen."""
    from jobflow import SETTINGS

    SETTINGS.JOB_STORE = session.job_store
    fworker = fworker or FWorker(name="na-flows-local")
    session.settings.runs_dir.mkdir(parents=True, exist_ok=True)
    pending = session.launchpad.fireworks.count_documents({"state": {"$in": list(UNFINISHED_STATES)}})
    launched = 0
    with tqdm(total=pending, desc="jobs", unit="job", disable=not progress) as bar:
        while (max_jobs is None or launched < max_jobs) and session.launchpad.run_exists(fworker):
            launch_dir = session.settings.runs_dir / f"launcher_{datetime.datetime.now():%Y%m%d-%H%M%S-%f}"
            launch_dir.mkdir()
            quiet = _stdout_into(launch_dir / "rocket.log") if job_logs else contextlib.nullcontext()
            with contextlib.chdir(launch_dir), quiet:
                launch_rocket(session.launchpad, fworker, strm_lvl="INFO")
            session.save()
            launched += 1
            bar.update()
    return launched
