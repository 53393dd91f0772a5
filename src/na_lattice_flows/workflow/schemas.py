"""Output documents of the screening jobs (pydantic, stored by jobflow in the JobStore's docs store)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from na_lattice_flows.md.schemas import TransportSummary
from na_lattice_flows.phonons.committee import CommitteeVerdict
from na_lattice_flows.phonons.descriptors import PhononDescriptors
from na_lattice_flows.relax.elastic import ElasticSummary
from na_lattice_flows.structure.descriptors import StructureDescriptors


class Provenance(BaseModel):
    """How a structure's numbers were made, so that rows computed differently are not compared unknowingly
    (the Na VDOS centre, for one, depends on the Langevin friction)."""

    relax_method: str = Field(description="MLP name, or DFT code and functional")
    relax_optimizer: str | None = Field(
        None, description="ASE optimizer of an MLP relaxation when not atomate2's FIRE"
    )
    phonon_model: str | None = None
    fc_method: str | None = Field(
        None, description="Second-order force-constant fit: symfc, pheasy or hiphive"
    )
    phonon_temperature_K: float | None = None
    phonon_stability: str | None = Field(
        None,
        description="The screen's stability setting: harmonic or finite-temperature (None before 0.4: harmonic)",
    )
    md_model: str | None = None
    md_engine: str | None = Field(None, description="ase or torchsim")
    md_preset: str | None = None
    md_timestep_fs: float | None = None
    md_production_ps: float | None = None
    md_friction_per_ps: float | None = None
    elastic_model: str | None = None
    committee_models: str | None = Field(
        None, description="Force fields beside phonon_model judging stability, comma-separated"
    )
    md_on_unstable: bool | None = Field(
        None,
        description="MD ran whatever the stability verdict (a campaign's controls); None before 0.5",
    )


class ScreeningDocument(BaseModel):
    """One structure's screening record: what went in, the MLP relaxation and the supercell the later
    phonon and MD steps use. Later steps add their results beside it."""

    candidate_id: str
    formula: str
    source: str | None = None
    band_gap_eV: float | None = Field(None, description="Database band gap the screen read")
    formation_energy_eV_per_atom: float | None = Field(
        None, description="Database formation energy the screen read"
    )
    model: str = Field(description="Machine-learned interatomic potential used for the relaxation")
    relaxed_structure: Structure
    energy_per_atom_eV: float
    relax_converged: bool | None = Field(
        None, description="Forces below the relaxation's fmax at the end"
    )
    relax_steps: int | None = None
    volume_change_percent: float = Field(description="100 (V_relaxed - V_input) / V_input")
    space_group_input: str
    space_group_relaxed: str
    supercell_matrix: list[list[int]]
    supercell_n_atoms: int
    supercell_length_ratio: float = Field(description="Longest / shortest supercell lattice length")
    structure_descriptors: StructureDescriptors = Field(description="Of the relaxed structure")
    phonons: PhononDescriptors | None = Field(
        None, description="Stability and lattice-dynamics descriptors"
    )
    transport: TransportSummary | None = Field(
        None, description="MD diffusion results, or why MD was skipped"
    )
    elastic: ElasticSummary | None = Field(
        None, description="Bulk and shear moduli from the MLP elastic tensor"
    )
    provenance: Provenance | None = None
    committee: CommitteeVerdict | None = Field(
        None, description="Other force fields' stability verdicts: disputed or not"
    )
