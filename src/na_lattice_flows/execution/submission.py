"""Submitting flows to the LaunchPad: every flow is routed and converted by ``add_flow``; screening campaigns
go through ``submit_candidates``, which is idempotent and records the campaign.

Flows go through the production path even on the embedded default: ``flow_to_workflow`` -> ``LaunchPad.add_wf``
-> ``launch_rocket`` (``launching``). Workflows carry no store in their spec: each worker writes to the JobStore it is
configured with (jobflow's ``JOB_STORE`` setting), so credentials never travel inside the database.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from jobflow import Flow, Job
from jobflow.managers.fireworks import flow_to_workflow
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from na_lattice_flows.candidates.fingerprints import (
    StructureIdentity,
    legacy_settings_fingerprint,
    same_crystal,
    settings_fingerprint,
    structure_identities,
)
from na_lattice_flows.candidates.loaders import Candidate, Rejection
from na_lattice_flows.candidates.screen import ScreeningReport
from na_lattice_flows.checks import check_range
from na_lattice_flows.execution.jobflow_speed import install as install_jobflow_shortcuts
from na_lattice_flows.execution.queries import workflow_members
from na_lattice_flows.execution.stores import Session, get_campaign_store
from na_lattice_flows.relax.jobs import relax_method
from na_lattice_flows.routing import route
from na_lattice_flows.workflow.batched_screening import BatchedScreeningFlowMaker
from na_lattice_flows.workflow.screening import ScreeningFlowMaker

SUBMIT_BATCH = 50  # workflows per commit on the embedded store: a worker's checkout waits at most one batch (~0.5 s)


class CampaignRecord(BaseModel):
    """What one submission did: its flows and every structure the screen rejected, with the reason."""

    campaign_id: str
    created_at: str
    inputs: list[str]
    model: str
    submitted: dict[str, int] = Field(
        description="candidate_id -> FireWorks workflow id (root fw_id)"
    )
    rejections: list[Rejection]


@dataclass(frozen=True)
class SubmittedStructure:
    """A structure that already has a workflow with some settings: what a new submission is checked against."""

    candidate_id: str
    fw_id: int | None  # None: added by the submission under way
    state: str
    canonical_cell: str


def submitted_structures(session: Session) -> dict[tuple[str, str], list[SubmittedStructure]]:
    """Workflows on the LaunchPad by (structure fingerprint, settings fingerprint)."""
    index: dict[tuple[str, str], list[SubmittedStructure]] = defaultdict(list)
    projection = {"metadata": 1, "state": 1, "nodes": 1}
    screening = {
        "$or": [
            {"metadata.fingerprint": {"$exists": True}},
            {"metadata.members": {"$exists": True}},
        ]
    }
    for workflow in session.launchpad.workflows.find(screening, projection):
        for metadata in workflow_members(workflow["metadata"]):
            index[(metadata["fingerprint"], metadata["settings_fingerprint"])].append(
                SubmittedStructure(
                    metadata["candidate_id"],
                    min(workflow["nodes"]),
                    workflow["state"],
                    metadata["canonical_cell"],
                )
            )
    return index


def _repeat_of(
    candidate: Candidate, identity: StructureIdentity, settings: tuple[str, ...], index: dict
) -> SubmittedStructure | None:
    """The workflow that already holds ``candidate`` with one of the ``settings`` fingerprints, if any."""
    for fingerprint in settings:
        for submitted in index.get((identity.fingerprint, fingerprint), []):
            # the same standard primitive cell, to the digit, is the same crystal without StructureMatcher's cost
            if submitted.canonical_cell == identity.canonical_cell or same_crystal(
                candidate.structure, submitted.canonical_cell
            ):
                return submitted
    return None


def submit_candidates(
    session: Session,
    report: ScreeningReport,
    inputs: Iterable[str],
    flow_maker: ScreeningFlowMaker | None = None,
    force: bool = False,
    processes: int = 1,
    phonon_batch: int | None = None,
) -> CampaignRecord:
    """Add one screening workflow per accepted candidate and record the campaign (with every rejection);
    ``processes``: fingerprint the structures over that many processes (``structure_identities``; the flows are
    made here: over a pool, each process's imports cost more CPU than it saves on two cores, measured).
    ``phonon_batch``: one workflow per group of that many candidates instead, their phonon forces computed by
    one batched job (``BatchedScreeningFlowMaker``); each candidate keeps its own relaxation, gate, summary and
    results row, and its settings fingerprint is that of ``flow_maker``.

    Idempotent: a candidate whose crystal (symmetry-aware fingerprint, confirmed by StructureMatcher) already
    has a workflow with the same flow settings, submitted, running, finished or failed, is not added again
    but listed with that workflow; ``force`` adds it anyway."""
    install_jobflow_shortcuts()
    flow_maker = flow_maker or ScreeningFlowMaker()
    if phonon_batch is not None:
        check_range("phonon_batch", phonon_batch, at_least=1)
    # an unsuitable model fails here
    grouped = BatchedScreeningFlowMaker(screening=flow_maker) if phonon_batch else None
    campaign_id = (
        f"campaign-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    )
    settings = settings_fingerprint(flow_maker)
    # workflows submitted by 0.1 carry the second
    known_as = (
        settings,
        legacy_settings_fingerprint(flow_maker),
    )
    index = submitted_structures(session)
    rejections = list(report.rejections)
    accepted = report.accepted
    identities = structure_identities([candidate.structure for candidate in accepted], processes)
    progress = tqdm(total=len(accepted), desc="submitting", unit="flow", disable=len(accepted) < 20)
    submitted: dict[str, int] = {}
    pending: list[tuple[Candidate, dict]] = []  # new candidates not yet added (a group fills up)

    def add_pending() -> None:
        if not pending:
            return
        if grouped is None:
            ((candidate, metadata),) = pending
            name, flow = (
                f"screen {candidate.candidate_id} {candidate.formula}",
                flow_maker.make(candidate),
            )
        else:
            ids = [candidate.candidate_id for candidate, _ in pending]
            name = f"screen {len(ids)} with batched phonons: {', '.join(ids[:4])}{', ...' if len(ids) > 4 else ''}"
            flow = grouped.make([candidate for candidate, _ in pending])
            metadata = {
                "campaign_id": campaign_id,
                "settings_fingerprint": settings,
                "members": [member for _, member in pending],
            }
        fw_id = add_flow(session, flow, name, metadata, check_references=False)
        submitted.update({candidate.candidate_id: fw_id for candidate, _ in pending})
        pending.clear()

    with contextlib.closing(identities):  # a failure stops the pool's work too
        for batch in itertools.batched(zip(accepted, identities, strict=True), SUBMIT_BATCH):
            with session.batched_writes():  # one commit per batch of workflows
                for candidate, identity in batch:
                    progress.update()
                    repeat = None if force else _repeat_of(candidate, identity, known_as, index)
                    if repeat is not None:
                        workflow = (
                            "added by this submission"
                            if repeat.fw_id is None
                            else f"workflow {repeat.fw_id}"
                        )
                        reason = f"already submitted with the same settings as {repeat.candidate_id} ({workflow}, {repeat.state}): use --force to resubmit"
                        rejections.append(
                            Rejection(
                                candidate_id=candidate.candidate_id,
                                source=candidate.source,
                                reason=reason,
                            )
                        )
                        continue
                    metadata = {
                        "candidate_id": candidate.candidate_id,
                        "formula": candidate.formula,
                        "campaign_id": campaign_id,
                        "fingerprint": identity.fingerprint,
                        "settings_fingerprint": settings,
                        "source": candidate.source,
                        "canonical_cell": identity.canonical_cell,
                    }
                    pending.append((candidate, metadata))
                    index[(identity.fingerprint, settings)].append(
                        SubmittedStructure(
                            candidate.candidate_id, None, "READY", identity.canonical_cell
                        )
                    )
                    if len(pending) == (phonon_batch or 1):
                        add_pending()
        add_pending()  # the last, smaller group
    progress.close()
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


def add_flow(
    session: Session,
    flow: Flow | Job,
    name: str,
    metadata: dict | None = None,
    check_references: bool = True,
) -> int:
    """Route ``flow``'s jobs to their worker categories, convert it to a FireWorks workflow and add it; returns
    the workflow's first fw_id. Every submission path goes through here. ``check_references``: jobflow's check
    that every reference points inside the flow (it serialises every job: a large share of what adding a
    screening flow costs); screening campaigns leave it to a test of the ``ScreeningFlowMaker`` (test_submission)."""
    workflow = flow_to_workflow(route(flow), allow_external_references=not check_references)
    workflow.name = name
    workflow.metadata.update(metadata or {})
    old_to_new = session.launchpad.add_wf(workflow)
    return min(old_to_new.values())
