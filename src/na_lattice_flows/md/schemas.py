"""Output documents of the MD step: one run, one torch-sim batch, and a structure's transport summary."""

from __future__ import annotations

from pydantic import BaseModel, Field

from na_lattice_flows.md.diffusion import ArrheniusFit
from na_lattice_flows.md.settings import MDSettings
from na_lattice_flows.md.transport import TransportAnalysis


class MDDocument(BaseModel):
    """One MLP MD run: settings, supercell, trajectory path, transport analysis and curves."""

    candidate_id: str
    formula: str
    model: str
    model_provenance: dict | None = Field(
        None,
        description="Training provenance of a model trained here (models.model_provenance); None: pretrained",
    )
    engine: str
    settings: MDSettings
    supercell_matrix: list[list[int]]
    n_atoms: int
    trajectory_path: str = Field(
        description="HDF5 trajectory: unwrapped positions, velocities (float32)"
    )
    analysis: TransportAnalysis
    curves: dict = Field(description="times, MSD(t) per element and axis, VDOS (data store)")


class MDBatchDocument(BaseModel):
    """The runs of one torch-sim batch, in the order they were given."""

    runs: list[MDDocument]


class TransportSummary(BaseModel):
    """One structure's MD outcome: the run at the reference temperature, the whole series, the Arrhenius fit."""

    candidate_id: str
    skipped_reason: str | None = Field(
        None, description="why no MD ran (e.g. dynamically unstable)"
    )
    reference_temperature_K: float | None = None
    D_avg_A2_per_ps: float | None = None
    D_max_A2_per_ps: float | None = None
    melted: bool | None = None
    na_vdos_center_thz: float | None = None
    conductivity_mS_per_cm: float | None = None
    D_kinisi_A2_per_ps: float | None = None
    haven_ratio: float | None = None
    reference_trajectory_path: str | None = Field(
        None, description="HDF5 trajectory of the reference-temperature run"
    )
    runs: dict[str, TransportAnalysis] = Field(
        default_factory=dict, description="temperature (K) -> analysis"
    )
    arrhenius: ArrheniusFit | None = None
