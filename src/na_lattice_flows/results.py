"""What the stores hold, as one row per structure: its workflow's state, its screening record, its error."""

from __future__ import annotations

import pandas as pd

from na_lattice_flows.stores import Session, get_campaign_store
from na_lattice_flows.structure_descriptors import StructureDescriptors
from na_lattice_flows.workflows import SUMMARY_JOB_NAME

PHONON_COLUMNS = [
    "dynamically_stable",
    "min_frequency_thz",
    "msd_na_avg_A2",
    "msd_na_max_A2",
    "low_freq_msd_fraction",
    "acoustic_cutoff_thz",
    "na_pdos_center_thz",
    "total_dos_center_thz",
    "low_freq_na_host_coupling",
]
STRUCTURE_COLUMNS = list(StructureDescriptors.model_fields)
TRANSPORT_COLUMNS = [
    "D_avg_A2_per_ps",
    "D_max_A2_per_ps",
    "melted",
    "na_vdos_center_thz",
    "conductivity_mS_per_cm",
    "D_kinisi_A2_per_ps",
    "haven_ratio",
]
RESULT_COLUMNS = [
    "candidate_id",
    "formula",
    "state",
    "model",
    "energy_per_atom_eV",
    "volume_change_percent",
    "space_group_relaxed",
    "relax_converged",
    "supercell_n_atoms",
    "supercell_length_ratio",
    *PHONON_COLUMNS,
    *TRANSPORT_COLUMNS,
    "activation_energy_eV",
    "md_skipped_reason",
    *STRUCTURE_COLUMNS,
    "error",
]


def _failure_reason(session: Session, fw_id: int) -> str | None:
    """The last line of the traceback a fizzled job left in its launch."""
    launch = session.launchpad.launches.find_one(
        {"fw_id": fw_id, "state": "FIZZLED"}, {"action": 1}, sort=[("time_end", -1)]
    )
    stacktrace = (((launch or {}).get("action") or {}).get("stored_data") or {}).get("_exception", {}).get("_stacktrace")
    if not stacktrace:
        return None
    lines = [line for line in stacktrace.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def summary_documents(session: Session) -> dict[str, dict]:
    """Newest screening summary output per candidate, from the JobStore."""
    store = session.job_store
    store.connect()
    latest: dict[str, dict] = {}
    for doc in store.query({"name": SUMMARY_JOB_NAME}, properties=["output", "completed_at"], sort={"completed_at": 1}):
        output = doc["output"]
        latest[output["candidate_id"]] = output
    return latest


def results_table(session: Session) -> pd.DataFrame:
    """One row per submitted structure (newest workflow per candidate)."""
    summaries = summary_documents(session)
    rows: dict[str, dict] = {}
    for workflow in session.launchpad.workflows.find({}, {"metadata": 1, "state": 1, "nodes": 1}, sort=[("created_on", 1)]):
        metadata = workflow.get("metadata") or {}
        candidate_id = metadata.get("candidate_id")
        if candidate_id is None:
            continue
        fizzled = session.launchpad.fireworks.find({"fw_id": {"$in": workflow["nodes"]}, "state": "FIZZLED"}, {"fw_id": 1, "name": 1})
        errors = [f"{fw['name']}: {_failure_reason(session, fw['fw_id'])}" for fw in fizzled]
        summary = summaries.get(candidate_id, {})
        transport = summary.get("transport") or {}
        rows[candidate_id] = {
            "candidate_id": candidate_id,
            "formula": metadata.get("formula"),
            "state": workflow["state"],
            "model": summary.get("model"),
            "energy_per_atom_eV": summary.get("energy_per_atom_eV"),
            "volume_change_percent": summary.get("volume_change_percent"),
            "space_group_relaxed": summary.get("space_group_relaxed"),
            "relax_converged": summary.get("relax_converged"),
            "supercell_n_atoms": summary.get("supercell_n_atoms"),
            "supercell_length_ratio": summary.get("supercell_length_ratio"),
            **{column: (summary.get("phonons") or {}).get(column) for column in PHONON_COLUMNS},
            **{column: transport.get(column) for column in TRANSPORT_COLUMNS},
            "activation_energy_eV": (transport.get("arrhenius") or {}).get("activation_energy_eV"),
            "md_skipped_reason": transport.get("skipped_reason"),
            **{column: (summary.get("structure_descriptors") or {}).get(column) for column in STRUCTURE_COLUMNS},
            "error": "; ".join(errors) or None,
        }
    return pd.DataFrame(list(rows.values()), columns=RESULT_COLUMNS)


def rejections_table(session: Session) -> pd.DataFrame:
    """Every structure that the screen dropped, in every campaign, with the reason."""
    campaigns = get_campaign_store(session.settings)
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
