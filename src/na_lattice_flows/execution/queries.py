"""Every query that reads results back from the stores, in one place: the job outputs by job name or by the
fields a document type has, and the failed launches on the LaunchPad. ``results`` (tables) and the report read
the stores only through these."""

from __future__ import annotations

from na_lattice_flows.execution.stores import Session
from na_lattice_flows.workflow.names import SUMMARY_JOB_NAME


def failed_launch(session: Session, fw_id: int) -> dict:
    """The newest failed launch of a job (FireWorks keeps the exception and traceback in it)."""
    return (
        session.launchpad.launches.find_one(
            {"fw_id": fw_id, "state": "FIZZLED"},
            {"action": 1, "host": 1, "launch_dir": 1},
            sort=[("time_end", -1)],
        )
        or {}
    )


def launch_traceback(launch: dict) -> str | None:
    """The traceback a failed launch stored, if any."""
    return (((launch.get("action") or {}).get("stored_data") or {}).get("_exception") or {}).get(
        "_stacktrace"
    )


def last_line(traceback: str | None) -> str | None:
    """The last non-empty line of a traceback (the exception), or None."""
    lines = [line for line in (traceback or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def summary_documents(session: Session) -> dict[str, dict]:
    """Newest screening summary output per candidate id, from the JobStore (the AIMD validation's choice of
    hits); ``summary_outputs`` has every one."""
    store = session.job_store
    store.connect()
    latest: dict[str, dict] = {}
    for doc in store.query(
        {"name": SUMMARY_JOB_NAME}, properties=["output", "completed_at"], sort={"completed_at": 1}
    ):
        output = doc["output"]
        latest[output["candidate_id"]] = output
    return latest


def summary_job_uuids(session: Session) -> dict[int, str]:
    """fw_id -> jobflow job uuid of every screening summary job on the LaunchPad: what ties a workflow to its
    summary document (a candidate id may be shared by several workflows: other settings, another input)."""
    return _job_uuids(session, {"name": SUMMARY_JOB_NAME})


def _job_uuids(session: Session, query: dict) -> dict[int, str]:
    found = {}
    for firework in session.launchpad.fireworks.find(
        query, {"fw_id": 1, "spec._tasks.job.uuid": 1}
    ):
        tasks = (firework.get("spec") or {}).get("_tasks") or [{}]
        if "job" in tasks[0]:
            found[firework["fw_id"]] = tasks[0]["job"]["uuid"]
    return found


def pending_phonon_descriptors(session: Session, fw_ids: set[int]) -> dict[int, dict]:
    """fw_id -> phonon descriptors (the screen's verdict among them) of the finished per-structure phonon jobs
    among ``fw_ids``: what a workflow whose summary is not written yet (its MD waiting, paused or running) already
    knows. A batched phonon job's structures are left out (their summary says it all soon enough)."""
    uuids = {
        fw_id: uuid
        for fw_id, uuid in _job_uuids(session, {"name": {"$regex": "^mlp phonons "}}).items()
        if fw_id in fw_ids
    }
    if not uuids:
        return {}
    store = session.job_store
    store.connect()
    descriptors = {
        doc["uuid"]: doc["output"]["descriptors"]
        for doc in store.query(
            {"uuid": {"$in": list(uuids.values())}, "output.descriptors": {"$exists": True}},
            properties=["uuid", "output.descriptors"],
            sort={"completed_at": 1},
        )
        if (doc.get("output") or {}).get("descriptors")
    }
    return {fw_id: descriptors[uuid] for fw_id, uuid in uuids.items() if uuid in descriptors}


def summary_outputs(session: Session) -> dict[str, dict]:
    """Job uuid -> output of every finished screening summary (the newest run of a rerun job)."""
    store = session.job_store
    store.connect()
    query = store.query(
        {"name": SUMMARY_JOB_NAME},
        properties=["uuid", "output", "completed_at"],
        sort={"completed_at": 1},
    )
    return {doc["uuid"]: doc["output"] for doc in query}


def summaries_of(session: Session, candidate_ids: list[str]) -> dict[str, dict]:
    """Newest summary document (with the relaxed structure) of the given candidates."""
    store = session.job_store
    found = {}
    for doc in store.query(
        {"name": SUMMARY_JOB_NAME, "output.candidate_id": {"$in": candidate_ids}},
        properties=["output", "completed_at"],
        sort={"completed_at": 1},
    ):
        found[doc["output"]["candidate_id"]] = doc["output"]
    return found


def phonon_output(session: Session, candidate_id: str) -> dict | None:
    """The newest phonon document of a candidate (``{"output": document}``): its own job's, else its part of a
    batched phonon job's."""
    found = session.job_store.query_one(
        {
            "output.candidate_id": candidate_id,
            "output.mode_data": {"$exists": True},
            "output.force_constants": {"$exists": True},
        },
        properties=["output"],
        sort={"completed_at": -1},
        load=True,
    )
    if found is not None:
        return found
    batch = session.job_store.query_one(
        {"output.candidate_ids": candidate_id, "output.documents": {"$exists": True}},
        properties=["output"],
        sort={"completed_at": -1},
        load=True,
    )
    if batch is None:
        return None
    document = batch["output"]["documents"][batch["output"]["candidate_ids"].index(candidate_id)]
    return None if document is None else {"output": document}


def workflow_members(metadata: dict | None) -> list[dict]:
    """The candidates a screening workflow holds, each with its submission metadata (candidate id, formula,
    fingerprints, source, campaign): one, or a group sharing a batched phonon job (``metadata["members"]``);
    none for other workflows (benchmarks, validation, training)."""
    metadata = metadata or {}
    if "members" in metadata:
        return metadata["members"]
    return [metadata] if metadata.get("candidate_id") is not None else []


def member_fields(*fields: str) -> dict[str, int]:
    """A workflow projection of these metadata fields, for one candidate or for each member of a group."""
    return {
        f"{prefix}.{field}": 1 for prefix in ("metadata", "metadata.members") for field in fields
    }


def member_of_job(job_name: str, candidate_ids: list[str]) -> str | None:
    """Which of a workflow's candidates a job belongs to, from its name (``relax <id>``, ``phonons of <id>``,
    ``md gate <id>``); None: a job they share (the batched phonon job) or a summary."""
    return next(
        (candidate_id for candidate_id in candidate_ids if job_name.endswith(f" {candidate_id}")),
        None,
    )


def md_curves(session: Session, candidate_id: str, temperature_K: float | None) -> dict | None:
    """MSD(t) curves of the candidate's reference-temperature run (ASE engine: one document per run; torch-sim:
    one per batch)."""
    store = session.job_store
    for doc in store.query(
        {"output.candidate_id": candidate_id, "output.curves": {"$exists": True}},
        properties=["output"],
        load=True,
    ):
        if temperature_K is None or doc["output"]["settings"]["temperature_K"] == temperature_K:
            return doc["output"]["curves"]
    for doc in store.query(
        {"output.runs.candidate_id": candidate_id}, properties=["output"], load=True
    ):
        for run in doc["output"]["runs"]:
            if run["candidate_id"] == candidate_id and (
                temperature_K is None or run["settings"]["temperature_K"] == temperature_K
            ):
                return run["curves"]
    return None


def arrhenius_series(session: Session, candidate_ids: list[str]) -> dict[str, dict]:
    """Arrhenius fits of the given candidates' MD temperature series, by "<candidate> (<formula>)"."""
    # "$exists" as well as "$ne": MongoDB reads a path through a null as missing; mongomock (the embedded store's
    # query engine) does not, and would match a summary whose transport is None
    criteria = {
        "name": SUMMARY_JOB_NAME,
        "output.candidate_id": {"$in": candidate_ids},
        "output.transport.arrhenius": {"$exists": True, "$ne": None},
    }
    series = {}
    for doc in session.job_store.query(
        criteria, properties=["output.candidate_id", "output.formula", "output.transport.arrhenius"]
    ):
        output = doc["output"]
        series[f"{output['candidate_id']} ({output['formula']})"] = output["transport"]["arrhenius"]
    return series


def fizzled_jobs(session: Session) -> dict[int, str]:
    """fw_id -> job name of every failed job (one query, not one per workflow: 1000 workflows 26 s -> 0.1 s)."""
    return {
        fw["fw_id"]: fw["name"]
        for fw in session.launchpad.fireworks.find({"state": "FIZZLED"}, {"fw_id": 1, "name": 1})
    }


def validation_documents(session: Session) -> list[dict]:
    """Every MLP-vs-AIMD comparison (``dft.schemas.ValidationDocument``), oldest first."""
    session.job_store.connect()
    criteria = {
        "output.D_ratio_mlp_over_aimd": {"$exists": True},
        "output.aimd_engine": {"$exists": True},
    }
    return [
        doc["output"]
        for doc in session.job_store.query(
            criteria, properties=["output", "completed_at"], sort={"completed_at": 1}
        )
    ]


def doped_study_documents(session: Session, load_systems: bool = False) -> list[dict]:
    """Newest output of every doped study (by study id); ``load_systems`` also loads the per-system documents
    (lattice traces, transport runs) from the data store, which the report's figures need."""
    from na_lattice_flows.doping.flow import STUDY_SUMMARY_JOB_NAME

    store = session.job_store
    store.connect()
    latest: dict[str, dict] = {}
    for doc in store.query(
        {"name": STUDY_SUMMARY_JOB_NAME},
        properties=["output", "completed_at"],
        sort={"completed_at": 1},
        load=load_systems,
    ):
        latest[doc["output"]["study_id"]] = doc["output"]
    return list(latest.values())


def _outputs_oldest_first(session: Session, name_prefix: str) -> list[dict]:
    """The outputs of every job whose name starts with ``name_prefix``, data-store fields loaded, oldest first."""
    store = session.job_store
    store.connect()
    criteria = {"name": {"$regex": f"^{name_prefix}"}}
    return [
        doc["output"]
        for doc in store.query(
            criteria, properties=["output", "completed_at"], sort={"completed_at": 1}, load=True
        )
    ]


def trained_model_documents(session: Session) -> list[dict]:
    """Every trained force field (``training.schemas.TrainedModelDocument``) with its test errors, oldest first."""
    from na_lattice_flows.training.jobs import FIT_JOB_NAME

    return _outputs_oldest_first(session, FIT_JOB_NAME)


def frame_benchmark_documents(session: Session) -> list[dict]:
    """Every benchmark of models on AIMD frames (``benchmark.frames.FrameBenchmark``), oldest first."""
    from na_lattice_flows.benchmark.jobs import FRAME_BENCHMARK_JOB_NAME

    return _outputs_oldest_first(session, FRAME_BENCHMARK_JOB_NAME)


def force_benchmark_documents(session: Session) -> list[dict]:
    """Every stored ranking of models against DFT force references (``benchmark.forces.BenchmarkSummary``),
    oldest first."""
    from na_lattice_flows.benchmark.jobs import RANKING_JOB_NAME

    return _outputs_oldest_first(session, RANKING_JOB_NAME)


def dft_phonon_documents(session: Session) -> list[dict]:
    """Every DFT-vs-MLP phonon comparison of a validation hit (``benchmark.dft_phonons.PhononComparison``)."""
    from na_lattice_flows.benchmark.jobs import DFT_PHONON_JOB_NAME

    return _outputs_oldest_first(session, DFT_PHONON_JOB_NAME)
