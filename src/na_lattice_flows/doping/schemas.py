"""Output documents of the doped study: one NPT point, a system's transition, one transport run, a system's
summary and the study's tables. Per-frame arrays (lattice traces, dihedral series, MSD curves) go to the
JobStore's ``data`` store."""

from __future__ import annotations

from pydantic import BaseModel, Field

from na_lattice_flows.doping.analysis import AxialDiffusion
from na_lattice_flows.doping.cells import DopedCell
from na_lattice_flows.doping.dihedrals import DihedralSummary
from na_lattice_flows.doping.phases import PhaseCall, TransitionEstimate
from na_lattice_flows.md.diffusion import ArrheniusFit
from na_lattice_flows.md.npt import NPTSettings
from na_lattice_flows.md.transport import TransportAnalysis


class NPTDocument(BaseModel):
    """One NPT run of a doped system at one temperature: lattice, phase and curves."""

    system: str
    temperature_K: float
    start: str = Field(
        "cell",
        description="'cell' (the doped cell) or the endpoint a fine-grid run continues: 'tetragonal' / 'cubic'",
    )
    model: str
    model_provenance: dict | None = Field(
        None,
        description="Training provenance of a model trained here (models.model_provenance); None: pretrained",
    )
    settings: NPTSettings
    n_atoms: int
    phase: PhaseCall
    mean_cell_A: list[list[float]]
    volume_per_atom_A3: float
    dihedrals: DihedralSummary | None = None
    trajectory_path: str
    curves: dict = Field(
        default_factory=dict,
        description="lattice trace (a, b, c, alpha, beta, gamma per frame), dihedral series",
    )


class TransitionDocument(BaseModel):
    """A system's T_C estimate and the fine-grid runs behind it."""

    system: str
    estimate: TransitionEstimate
    fine_runs: list[NPTDocument] = Field(
        default_factory=list, description="both runs of every fine-grid point"
    )


class DopedTransportDocument(BaseModel):
    """The transport of one doped system at one temperature: D*, D_sigma, Haven ratio, anisotropy."""

    system: str
    temperature_K: float
    phase: str
    model: str
    model_provenance: dict | None = Field(
        None,
        description="Training provenance of a model trained here (models.model_provenance); None: pretrained",
    )
    n_atoms: int
    trajectory_path: str
    analysis: TransportAnalysis = Field(
        description="D (zero-intercept), kinisi D*, D_sigma, Haven ratio"
    )
    axial: AxialDiffusion | None = Field(
        None, description="D along c and in ab (tetragonal points)"
    )
    curves: dict = Field(default_factory=dict)


class SystemSummary(BaseModel):
    """Everything the study records about one system."""

    system: str
    cell: DopedCell
    transition: TransitionEstimate
    lattice_vs_T: dict[str, list[float]] = Field(
        description="temperature (K) -> mean a, b, c of every NPT point (coarse and fine)"
    )
    transport: list[DopedTransportDocument]
    arrhenius: dict[str, ArrheniusFit] = Field(
        default_factory=dict, description="'D', 'D_star', 'D_c', 'D_ab' -> fit"
    )
    dihedral_series: dict[str, dict] = Field(
        default_factory=dict,
        description="coarse temperature (K) -> times_ps and window-averaged dihedrals of up to 4 pairs",
    )


class DopedStudyDocument(BaseModel):
    """The doped study's record: settings, systems and tables."""

    study_id: str
    structure_formula: str
    model: str
    preset: str
    systems: list[SystemSummary]
    table: list[dict] = Field(
        description="one row per system: T_C, D*, D_sigma, H_R, Ea (the study's table)"
    )
    harmonic: dict | None = Field(
        None, description="the phonon step's document of the harmonic-check cell (data store)"
    )
    harmonic_structure: dict | None = Field(
        None, description="that cell (pymatgen dict), to rebuild its dispersion"
    )
    transport_table: list[dict] = Field(description="one row per system and temperature")
