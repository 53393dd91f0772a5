"""Output documents of the DFT steps: a GPAW calculation, an AIMD run with its transport analysis (GPAW or VASP),
and the AIMD validation of the MLP screen."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from na_lattice_flows.dft.gpaw import GPAWSettings
from na_lattice_flows.md.transport import TransportAnalysis


class GPAWTaskDocument(BaseModel):
    """One GPAW calculation: the final structure, energy, forces and stress, and the settings."""

    structure: Structure
    energy_eV: float
    energy_per_atom_eV: float
    forces_eV_per_A: list[list[float]]
    stress_eV_per_A3: list[float] = Field(description="Voigt order xx, yy, zz, yz, xz, xy")
    max_force_eV_per_A: float
    converged: bool = Field(
        True, description="the relaxation reached fmax within its steps (statics: always)"
    )
    n_steps: int = 0
    settings: GPAWSettings


class AIMDDocument(BaseModel):
    """One AIMD run (GPAW: one trajectory; VASP: its chained segments in order) and its transport analysis,
    the same analysis as the MLP MD's."""

    candidate_id: str
    engine: str = Field(description="gpaw or vasp")
    trajectory_paths: list[str] = Field(
        description="our HDF5 trajectory (GPAW) or the segments' vasprun.xml files (VASP)"
    )
    n_atoms: int | None = None
    analysis: TransportAnalysis
    curves: dict = Field(description="times, MSD(t) per element and axis, VDOS (data store)")


class ValidationHit(BaseModel):
    """A screened structure chosen for AIMD: its relaxed structure and its MLP MD result."""

    candidate_id: str
    structure: Structure
    D_mlp_A2_per_ps: float
    mlp_trajectory_path: str


class ValidationDocument(BaseModel):
    """MLP against AIMD diffusion of one structure: both D and their ratio, with the runs' paths."""

    candidate_id: str
    element: str
    aimd_engine: str
    temperature_K: float | None
    D_mlp_A2_per_ps: float
    D_aimd_A2_per_ps: float
    D_ratio_mlp_over_aimd: float | None = Field(description="None when the AIMD D is not positive")
    D_max_mlp_A2_per_ps: float
    D_max_aimd_A2_per_ps: float
    aimd_melted: bool | None
    mlp_trajectory_path: str
    aimd_trajectory_paths: list[str]
    curves: dict = Field(
        description="times (ps) and MSD(t) along x, y, z of both runs (data store)"
    )
