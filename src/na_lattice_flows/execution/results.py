"""What the stores hold, as one row per screening workflow: its state, its screening record, its error."""

from __future__ import annotations

import pandas as pd

from na_lattice_flows.errors import InputError
from na_lattice_flows.execution.queries import (
    failed_launch,
    fizzled_jobs,
    last_line,
    launch_traceback,
    member_fields,
    member_of_job,
    pending_phonon_descriptors,
    summary_job_uuids,
    summary_outputs,
    workflow_members,
)
from na_lattice_flows.execution.stores import Session, get_campaign_store
from na_lattice_flows.md.diffusion import ElementDiffusion, is_melted, transport_convergence
from na_lattice_flows.workflow.columns import (
    COMMITTEE_COLUMNS,
    CONVERGENCE_COLUMNS,
    ELASTIC_COLUMNS,
    PHONON_COLUMNS,
    PROVENANCE_COLUMNS,
    RESULT_COLUMNS,
    STABILITY_COLUMNS,
    STRUCTURE_COLUMNS,
    TEMPERATURE_STABILITY_COLUMNS,
    TRANSPORT_COLUMNS,
)

FAILURE_COLUMNS = [
    "candidate_id",
    "workflow",
    "formula",
    "job",
    "fw_id",
    "error",
    "host",
    "launch_dir",
    "traceback",
]


BENCHMARK_COLUMNS = [
    "benchmark",
    "rank",
    "model",
    "chosen",
    "balanced_accuracy",
    "agreement_dft_stable",
    "agreement_dft_unstable",
    "n_dft_stable",
    "n_dft_unstable",
    "force_rmse_meV_per_A",
    "ifc2_rmse_eV_per_A2",
    "seconds_per_structure",
    "references",
]


def force_benchmarks_table(rankings: list[dict]) -> pd.DataFrame:
    """One row per (stored force benchmark, model), best first within each: the ranking a benchmark flow
    stored (``execution.queries.force_benchmark_documents``), numbered 1, 2, ... oldest first."""
    rows = []
    for number, ranking in enumerate(rankings, start=1):
        references = sorted({row["structure"] for row in ranking.get("per_structure", [])})
        for rank, model in enumerate(ranking["ranking"], start=1):
            rows.append(
                {
                    "benchmark": number,
                    "rank": rank,
                    "model": model,
                    "chosen": model == ranking["chosen_model"],
                    **ranking["models"][model],
                    "references": ", ".join(references),
                }
            )
    return pd.DataFrame(rows).reindex(columns=BENCHMARK_COLUMNS)


def failures_table(session: Session) -> pd.DataFrame:
    """Every failed job, one row each: its structure, the error's last line, where it ran and the traceback (a
    job that a group's candidates share names them all)."""
    projection = {"nodes": 1, "name": 1, **member_fields("candidate_id", "formula")}
    members, workflow_names = {}, {}
    for wf in session.launchpad.workflows.find({}, projection):
        for fw_id in wf["nodes"]:
            members[fw_id] = workflow_members(wf.get("metadata"))
            # a doped study, a training set, a benchmark: named by its workflow (study id, dataset name)
            workflow_names[fw_id] = wf.get("name")
    rows = []
    for firework in session.launchpad.fireworks.find(
        {"state": "FIZZLED"}, {"fw_id": 1, "name": 1}, sort=[("fw_id", 1)]
    ):
        launch = failed_launch(session, firework["fw_id"])
        candidates = members.get(firework["fw_id"], [])
        owner = member_of_job(firework["name"], [member["candidate_id"] for member in candidates])
        candidates = [member for member in candidates if owner in (None, member["candidate_id"])]
        rows.append(
            {
                "candidate_id": ", ".join(m["candidate_id"] for m in candidates) or None,
                "workflow": workflow_names.get(firework["fw_id"]),
                "formula": ", ".join(m.get("formula") or "" for m in candidates) or None,
                "job": firework["name"],
                "fw_id": firework["fw_id"],
                "error": last_line(launch_traceback(launch)),
                "host": launch.get("host"),
                "launch_dir": launch.get("launch_dir"),
                "traceback": launch_traceback(launch),
            }
        )
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)


def results_table(session: Session) -> pd.DataFrame:
    """One row per submitted screening workflow, with the summary of that workflow: a structure resubmitted
    with other settings has a row per workflow (``campaign_id``, ``settings_fingerprint`` and the provenance
    columns tell them apart), and two structures that share a candidate id both appear."""
    outputs = summary_outputs(session)
    summary_of_job = {
        fw_id: outputs[uuid]
        for fw_id, uuid in summary_job_uuids(session).items()
        if uuid in outputs
    }
    rows = []
    # not the cells
    fields = (
        "candidate_id",
        "formula",
        "campaign_id",
        "fingerprint",
        "settings_fingerprint",
        "source",
    )
    projection = {"state": 1, "nodes": 1, **member_fields(*fields)}
    fizzled = fizzled_jobs(session)
    workflows = list(session.launchpad.workflows.find({}, projection, sort=[("created_on", 1)]))
    # workflows without a summary yet show their phonon step's verdict (a paused or running MD hid it)
    without_summary = {
        fw_id
        for workflow in workflows
        if not any(fw_id in summary_of_job for fw_id in workflow["nodes"])
        for fw_id in workflow["nodes"]
    }
    pending = pending_phonon_descriptors(session, without_summary) if without_summary else {}
    for workflow in workflows:
        members = workflow_members(workflow.get("metadata"))
        ids = [member["candidate_id"] for member in members]
        summaries = [
            summary_of_job[fw_id] for fw_id in workflow["nodes"] if fw_id in summary_of_job
        ]
        for metadata in members:
            candidate_id = metadata["candidate_id"]
            failed = sorted(
                fw_id
                for fw_id in workflow["nodes"]
                if fw_id in fizzled and member_of_job(fizzled[fw_id], ids) in (None, candidate_id)
            )
            errors = [
                f"{fizzled[fw_id]}: {last_line(launch_traceback(failed_launch(session, fw_id)))}"
                for fw_id in failed
            ]
            summary = next(
                (
                    s
                    for s in summaries
                    if len(members) == 1 or s.get("candidate_id") == candidate_id
                ),
                {},
            )
            if not summary and len(members) == 1:
                phonons = next((pending[f] for f in workflow["nodes"] if f in pending), None)
                summary = {"phonons": phonons} if phonons else {}
            state = (
                workflow["state"]
                if len(members) == 1
                else ("COMPLETED" if summary else "FIZZLED" if failed else workflow["state"])
            )
            rows.append(_result_row(workflow, metadata, summary, state, errors))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _reference_run(transport: dict) -> dict:
    """The stored analysis of a transport summary's reference-temperature run ({} without MD)."""
    runs = transport.get("runs") or {}
    temperature = transport.get("reference_temperature_K")
    return (runs.get(f"{temperature:g}") if temperature is not None else None) or {}


def _convergence_evidence(transport: dict) -> tuple[float | None, float | None, float | None]:
    """Production length of the reference-temperature run of a transport summary (None without MD), and its
    mobile species' MSD growth and intercept across the fit window (None before 0.8)."""
    run = _reference_run(transport)
    mobile = (run.get("elements") or {}).get(run.get("species")) or {}
    return run.get("duration_ps"), mobile.get("msd_growth_A2"), mobile.get("msd_intercept_A2")


def _melt_verdict(transport: dict) -> bool | None:
    """The melt filter of the reference run, judged again from its stored framework figures where they
    include the MSD growth (0.8 on: a vibrating framework is not melted, ``md.diffusion.is_melted``); the
    stored verdict otherwise. Runs of 0.8.0 called cubic Na3PS4 melted on its PS4 units' plateau."""
    run = _reference_run(transport)
    framework = [
        ElementDiffusion.model_validate(figures)
        for element, figures in (run.get("elements") or {}).items()
        if element != run.get("species")
    ]
    if not framework or any(element.msd_growth_A2 is None for element in framework):
        return transport.get("melted")
    return is_melted(framework, run.get("duration_ps"))[0]


def _result_row(
    workflow: dict, metadata: dict, summary: dict, state: str, errors: list[str]
) -> dict:
    """One results row: the candidate's submission metadata, its summary (``{}`` before it exists), its errors."""
    transport = summary.get("transport") or {}
    return {
        "candidate_id": metadata["candidate_id"],
        "formula": metadata.get("formula"),
        "state": state,
        "workflow_id": min(workflow["nodes"]),
        "campaign_id": metadata.get("campaign_id"),
        "settings_fingerprint": metadata.get("settings_fingerprint"),
        "source": metadata.get("source") or summary.get("source"),
        "fingerprint": metadata.get("fingerprint"),
        "model": summary.get("model"),
        "energy_per_atom_eV": summary.get("energy_per_atom_eV"),
        "volume_change_percent": summary.get("volume_change_percent"),
        "space_group_relaxed": summary.get("space_group_relaxed"),
        "relax_converged": summary.get("relax_converged"),
        "supercell_n_atoms": summary.get("supercell_n_atoms"),
        "supercell_length_ratio": summary.get("supercell_length_ratio"),
        **{
            column: (summary.get("phonons") or {}).get(column)
            for column in (*PHONON_COLUMNS, *STABILITY_COLUMNS)
        },
        **temperature_stability_columns(summary.get("phonons")),
        **committee_columns(summary.get("committee")),
        **{column: transport.get(column) for column in TRANSPORT_COLUMNS},
        "melted": _melt_verdict(transport),
        **dict(
            zip(
                CONVERGENCE_COLUMNS,
                transport_convergence(*_convergence_evidence(transport)),
                strict=True,
            )
        ),
        "md_temperature_K": transport.get("reference_temperature_K"),
        "activation_energy_eV": (transport.get("arrhenius") or {}).get("activation_energy_eV"),
        "activation_energy_err_eV": (transport.get("arrhenius") or {}).get(
            "activation_energy_err_eV"
        ),
        "md_skipped_reason": transport.get("skipped_reason"),
        **{
            column: (summary.get("structure_descriptors") or {}).get(column)
            for column in STRUCTURE_COLUMNS
        },
        **{column: (summary.get("elastic") or {}).get(column) for column in ELASTIC_COLUMNS},
        **{column: (summary.get("provenance") or {}).get(column) for column in PROVENANCE_COLUMNS},
        "error": "; ".join(errors) or None,
    }


def temperature_stability_columns(phonons: dict | None) -> dict:
    """The verdict's method and the harmonic one beside it; a record written before 0.4 was judged harmonically."""
    phonons = phonons or {}
    if phonons.get("dynamically_stable") is None or phonons.get("stability_method") is not None:
        return {column: phonons.get(column) for column in TEMPERATURE_STABILITY_COLUMNS}
    return {
        "harmonically_stable": phonons["dynamically_stable"],
        "stability_method": "harmonic",
        "min_effective_frequency_thz": None,
        "descriptors_from": "harmonic",
    }


def committee_columns(committee: dict | None) -> dict:
    """``disputed`` (None without a committee), why, and each member's verdict in words."""
    if not committee:
        return dict.fromkeys(COMMITTEE_COLUMNS)
    verdicts = "; ".join(
        f"{m['model']}: {'stable' if m['dynamically_stable'] else 'unstable'} ({m['min_frequency_thz']:.2f} THz)"
        for m in committee["members"]
    )
    return {
        "disputed": committee["disputed"],
        "dispute": committee.get("dispute"),
        "committee_verdicts": verdicts,
    }


def query_results(session: Session, **filters) -> pd.DataFrame:
    """``results_table`` filtered (``filter_results``' keywords): dynamically stable or not, melted or not, D
    (``D_column``, average or maximum) at least ``min_D_A2_per_ps``, one campaign, one workflow state, one flow
    setting (a prefix of its settings fingerprint). A filter left at None is not applied; a structure without
    the value a filter needs (no phonons yet, no MD) is left out by it."""
    return filter_results(results_table(session), **filters)


def filter_results(
    table: pd.DataFrame,
    dynamically_stable: bool | None = None,
    melted: bool | None = None,
    min_D_A2_per_ps: float | None = None,
    D_column: str = "D_avg_A2_per_ps",
    campaign_id: str | None = None,
    state: str | None = None,
    settings_fingerprint: str | None = None,
    disputed: bool | None = None,
) -> pd.DataFrame:
    """``query_results``' filters on a results table already read."""
    if D_column not in ("D_avg_A2_per_ps", "D_max_A2_per_ps", "D_kinisi_A2_per_ps"):
        raise InputError(
            f"D_column {D_column!r}: choose D_avg_A2_per_ps, D_max_A2_per_ps or D_kinisi_A2_per_ps"
        )
    keep = pd.Series(True, index=table.index)
    if dynamically_stable is not None:
        keep &= table["dynamically_stable"].map(
            lambda value: _known(value) and bool(value) == dynamically_stable
        )
    if melted is not None:
        keep &= table["melted"].map(lambda value: _known(value) and bool(value) == melted)
    if min_D_A2_per_ps is not None:
        keep &= pd.to_numeric(table[D_column], errors="coerce") >= min_D_A2_per_ps
    if campaign_id is not None:
        keep &= table["campaign_id"] == campaign_id
    if state is not None:
        keep &= table["state"] == state.upper()
    if disputed is not None:
        keep &= table["disputed"].map(lambda value: _known(value) and bool(value) == disputed)
    if settings_fingerprint is not None:
        keep &= table["settings_fingerprint"].fillna("").str.startswith(settings_fingerprint)
    return table[keep].reset_index(drop=True)


def melt_undecided(table: pd.DataFrame) -> int:
    """Rows with a D from MD but no melt verdict: runs shorter than the 10 ps from which the melt filter is
    applied (``md.diffusion.is_melted``) that did not visibly melt; a --melted / --not-melted filter drops them."""
    has_d = pd.to_numeric(table["D_avg_A2_per_ps"], errors="coerce").notna()
    return int((has_d & ~table["melted"].map(_known)).sum())


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and pd.isna(value))


def rejections_table(session: Session) -> pd.DataFrame:
    """Every structure that the screen dropped, in every campaign, with the reason."""
    campaigns = get_campaign_store(session.settings, read_only=session.read_only)
    campaigns.connect()
    try:
        rows = [
            {"campaign_id": c["campaign_id"], **rejection}
            for c in campaigns.query({}, properties=["campaign_id", "rejections"])
            for rejection in c.get("rejections", [])
        ]
    finally:
        campaigns.close()
    return pd.DataFrame(rows, columns=["campaign_id", "candidate_id", "source", "reason"])
