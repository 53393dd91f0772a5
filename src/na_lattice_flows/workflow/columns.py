"""The columns of the results table: one row per workflow (a structure with one set of settings), the fields of
its screening record flattened. The store's results table (``execution.results``) fills them; the analysis
(``analysis.dataset``) reads them."""

from __future__ import annotations

from na_lattice_flows.phonons.descriptors import PhononDescriptors
from na_lattice_flows.relax.elastic import ElasticSummary
from na_lattice_flows.structure.descriptors import StructureDescriptors
from na_lattice_flows.workflow.schemas import Provenance

PHONON_COLUMNS = [
    "dynamically_stable",
    "min_frequency_thz",
    *(
        name
        for name, info in PhononDescriptors.model_fields.items()  # every scalar descriptor
        if info.annotation is float and name not in ("temperature_K", "low_freq_cutoff_thz")
    ),
]
STABILITY_COLUMNS = [
    "stability_rule",
    "stability_reason",
    "stability_code_version",
]  # why, and by which release, a structure was judged (un)stable: text, not descriptors
# the verdict at the screening temperature (``phonons.finite_temperature``); records before 0.4 read as harmonic
TEMPERATURE_STABILITY_COLUMNS = [
    "harmonically_stable",
    "stability_method",
    "min_effective_frequency_thz",
    "descriptors_from",
]
# a committee of force fields on the verdict (``phonons.committee``); empty without one
COMMITTEE_COLUMNS = ["disputed", "dispute", "committee_verdicts"]


STRUCTURE_COLUMNS = list(StructureDescriptors.model_fields)


ELASTIC_COLUMNS = list(ElasticSummary.model_fields)


TRANSPORT_COLUMNS = [
    "D_avg_A2_per_ps",
    "D_max_A2_per_ps",
    "melted",
    "na_vdos_center_thz",
    "conductivity_mS_per_cm",
    "D_kinisi_A2_per_ps",
    "haven_ratio",
]
# whether those figures come from a run long enough to read (``md.diffusion.transport_convergence``)
CONVERGENCE_COLUMNS = ["transport_converged", "transport_note"]


# what a screen (and the report's table) shows; the files hold every column
MAIN_COLUMNS = [
    "candidate_id",
    "formula",
    "state",
    "dynamically_stable",
    "stability_method",
    "D_avg_A2_per_ps",
    "D_max_A2_per_ps",
    "melted",
    "msd_na_avg_A2",
    "msd_na_max_A2",
    "acoustic_cutoff_thz",
    "na_pdos_center_thz",
    "na_vdos_center_thz",
    "haven_ratio",
    "transport_converged",
    "activation_energy_eV",
    "model",
    "fc_method",
    "stability_reason",
    "disputed",
]


PROVENANCE_COLUMNS = [
    name for name in Provenance.model_fields if name != "relax_method"
]  # that one is `model`


RESULT_COLUMNS = [
    "candidate_id",
    "formula",
    "state",
    "workflow_id",
    "campaign_id",
    "settings_fingerprint",
    "source",
    "fingerprint",
    "model",
    "energy_per_atom_eV",
    "volume_change_percent",
    "space_group_relaxed",
    "relax_converged",
    "supercell_n_atoms",
    "supercell_length_ratio",
    *PHONON_COLUMNS,
    *STABILITY_COLUMNS,
    *TEMPERATURE_STABILITY_COLUMNS,
    *COMMITTEE_COLUMNS,
    *TRANSPORT_COLUMNS,
    *CONVERGENCE_COLUMNS,
    "md_temperature_K",
    "activation_energy_eV",
    "activation_energy_err_eV",
    "md_skipped_reason",
    *STRUCTURE_COLUMNS,
    *ELASTIC_COLUMNS,
    *PROVENANCE_COLUMNS,
    "error",
]
