"""Output document of the phonon step (force constants and per-mode data go to the JobStore's ``data`` store)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from na_lattice_flows.phonons.descriptors import ModeData, PhononDescriptors
from na_lattice_flows.phonons.finite_temperature import EffectivePhonons
from na_lattice_flows.phonons.stability import StabilityVerdict
from na_lattice_flows.structure.descriptors import StructureDescriptors


class PhononDocument(BaseModel):
    """The phonon step's record: force constants (data store), verdict, descriptors and provenance."""

    candidate_id: str
    formula: str
    model: str
    model_provenance: dict | None = Field(
        None,
        description="Training provenance of a model trained here (models.model_provenance); None: pretrained",
    )
    fc_method: str
    supercell_matrix: list[list[int]]
    primitive_matrix: list[list[float]] | None = Field(
        None, description="phonopy's, which the compact force constants refer to"
    )
    n_supercells: int
    amplitude_A: float
    stability: StabilityVerdict = Field(
        description="The verdict the MD gate reads: at T where the effective phonons were computed"
    )
    harmonic_stability: StabilityVerdict | None = Field(
        None, description="The harmonic verdict, where the one at T replaced it"
    )
    effective_phonons: EffectivePhonons | None = Field(
        None, description="The self-consistent loop's record, where it ran"
    )
    effective_force_constants: list | None = Field(
        None,
        description="Effective second-order force constants at T, compact, eV/A^2 (data store)",
    )
    descriptors: PhononDescriptors
    structure_descriptors: StructureDescriptors
    force_constants: list = Field(
        description="Second-order force constants, phonopy layout, eV/A^2 (data store)"
    )
    third_order_method: str | None = None
    force_constants_3rd: list | None = Field(
        None,
        description="Compact third-order force constants, phono3py layout, eV/A^3 (data store), when asked",
    )
    mode_data: ModeData = Field(
        description="Per-mode frequencies, MSD, participation and coupling (data store)"
    )
