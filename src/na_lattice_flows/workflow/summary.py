"""The last job of a screening flow: one structure's record, collected from the outputs of the steps before it."""

from __future__ import annotations

from jobflow import Maker, job
from pydantic import BaseModel
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from na_lattice_flows.phonons.committee import (
    DEFAULT_MARGIN_THZ,
    CommitteeMember,
    CommitteeVerdict,
    committee_verdict,
)
from na_lattice_flows.phonons.descriptors import PhononDescriptors
from na_lattice_flows.relax.elastic import elastic_summary
from na_lattice_flows.relax.jobs import relaxation_outcome
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.structure.descriptors import structure_descriptors
from na_lattice_flows.structure.supercells import DEFAULT_MIN_ATOMS, paper_supercell
from na_lattice_flows.workflow.schemas import Provenance, ScreeningDocument


def _space_group(structure: Structure) -> str:
    return SpacegroupAnalyzer(structure, symprec=SETTINGS.symprec_A).get_space_group_symbol()


@job(output_schema=ScreeningDocument)
def summarize_screening(
    candidate_id: str,
    input_structure: Structure,
    relaxation: dict | BaseModel,
    model: str,
    source: str | None = None,
    band_gap_eV: float | None = None,
    formation_energy_eV_per_atom: float | None = None,
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS,
    phonons: PhononDescriptors | dict | None = None,
    transport: dict | None = None,
    provenance: Provenance | None = None,
    elastic: dict | BaseModel | None = None,
    committee: dict | None = None,
    committee_margin_thz: float | None = None,
    flow_maker: Maker | None = None,
) -> ScreeningDocument:
    """Collect a structure's screening record, its structural descriptors and its supercell from the relaxed cell.
    ``flow_maker``: the Maker that made the flow; the provenance is read from it when the job runs, so that
    settings changed by ``Flow.update_maker_kwargs`` after ``make`` are the ones recorded (flows of earlier
    releases pass ``provenance`` instead)."""
    if flow_maker is not None:
        provenance = flow_maker.provenance()
    relaxed = relaxation_outcome(relaxation)
    relaxed_structure = relaxed.structure
    supercell = paper_supercell(relaxed_structure, min_atoms=min_supercell_atoms)
    return ScreeningDocument(
        candidate_id=candidate_id,
        formula=relaxed_structure.composition.reduced_formula,
        source=source,
        band_gap_eV=band_gap_eV,
        formation_energy_eV_per_atom=formation_energy_eV_per_atom,
        model=model,
        relaxed_structure=relaxed_structure,
        energy_per_atom_eV=relaxed.energy_per_atom_eV,
        relax_converged=relaxed.converged,
        relax_steps=relaxed.n_steps,
        volume_change_percent=100.0 * (relaxed_structure.volume / input_structure.volume - 1.0),
        space_group_input=_space_group(input_structure),
        space_group_relaxed=_space_group(relaxed_structure),
        supercell_matrix=supercell.supercell_matrix,
        supercell_n_atoms=supercell.n_atoms,
        supercell_length_ratio=supercell.length_ratio,
        structure_descriptors=structure_descriptors(relaxed_structure),
        phonons=phonons,
        transport=transport,
        elastic=elastic_summary(elastic),
        provenance=provenance,
        committee=_committee(phonons, provenance, committee, committee_margin_thz),
    )


def _committee(
    phonons, provenance: Provenance | None, committee: dict | None, margin_thz: float | None
) -> CommitteeVerdict | None:
    """The committee's verdict: the screen's own phonons first, then the other models that ran."""
    own = PhononDescriptors.model_validate(phonons) if isinstance(phonons, dict) else phonons
    if committee is None or own is None or own.min_frequency_thz is None:
        return None
    first = CommitteeMember(
        model=provenance.phonon_model if provenance else "screen",
        dynamically_stable=bool(own.dynamically_stable),
        min_frequency_thz=own.min_frequency_thz,
        reason=own.stability_reason,
    )
    members = [first, *(CommitteeMember.model_validate(m) for m in committee["members"])]
    if len(members) < 2:
        return None  # every other model failed: named among the committee job's errors
    return committee_verdict(members, margin_thz if margin_thz is not None else DEFAULT_MARGIN_THZ)
