"""The doped study's settings in one object, and its two presets: ``paper`` (the study's cell, 12x12x12
conventional cells = 27,648 atoms of Na3SbS4, for GPU workers) and ``short`` (2x2x2 = 128 atoms, a few hundred
steps per point: runs on 2 CPU cores in minutes per system; it exercises every step but cannot resolve T_C, see
README)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from na_lattice_flows.doping.cells import DEFAULT_SQS_CUTOFFS_A
from na_lattice_flows.doping.phases import PhaseThresholds
from na_lattice_flows.errors import InputError
from na_lattice_flows.md.npt import NPTSettings
from na_lattice_flows.md.settings import MDSettings

MAX_TEMPERATURE_K = (
    3000.0  # above any sodium solid electrolyte's melting point: a larger value is a typo
)


class DopingStudySettings(BaseModel):
    """Every setting of the doped study (cell, temperature grids, NPT and transport MD); presets
    below."""

    model_config = ConfigDict(extra="forbid")

    supercell: tuple[int, int, int] = (12, 12, 12)
    coarse_temperatures_K: list[float] = Field(
        default_factory=lambda: [200.0 + 50 * i for i in range(9)]
    )
    fine_step_K: float = Field(12.5, gt=0)
    fine_grid_engine: Literal["ase", "torchsim"] = Field(
        "ase",
        description="'torchsim': every fine-grid run in one batch (C-rescale NPT; models with a torch-sim wrapper), for GPU workers",
    )
    transport_temperatures_K: list[float] = Field(
        default_factory=lambda: [300.0, 400.0, 500.0, 600.0]
    )
    npt: NPTSettings = Field(
        default_factory=lambda: NPTSettings(
            n_equilibration_steps=10_000, n_production_steps=25_000, frame_interval_steps=50
        )
    )
    transport: MDSettings = Field(
        default_factory=lambda: MDSettings(
            timestep_fs=2.0,
            n_equilibration_steps=5_000,
            n_production_steps=50_000,
            frame_interval_steps=25,
            production_ensemble="nve",
            checkpoint_interval_steps=1000,
        )
    )
    thresholds: PhaseThresholds = Field(default_factory=PhaseThresholds)
    dihedral_window_ps: float = Field(2.0, gt=0)
    sqs_cutoffs_A: tuple[float, ...] = DEFAULT_SQS_CUTOFFS_A
    seed: int = Field(0, ge=0, description="SQS, vacancies and MD seed")
    use_kinisi: bool = True

    @field_validator("coarse_temperatures_K", "transport_temperatures_K")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        if not values or any(not 0 < t <= MAX_TEMPERATURE_K for t in values):
            raise InputError(
                f"temperatures must be a non-empty list of finite K in (0, {MAX_TEMPERATURE_K:g}]; got {values}"
            )
        return sorted(set(values))

    @property
    def npt_temperatures_K(self) -> list[float]:
        """Every NPT point: the coarse grid and the transport temperatures (which use their NPT mean cell)."""
        return sorted(set(self.coarse_temperatures_K) | set(self.transport_temperatures_K))


DOPING_PRESETS = {
    "paper": DopingStudySettings(),
    "short": DopingStudySettings(
        supercell=(2, 2, 2),
        coarse_temperatures_K=[300.0, 450.0, 600.0],
        fine_step_K=75.0,
        transport_temperatures_K=[450.0, 600.0],
        npt=NPTSettings(
            n_equilibration_steps=100,
            n_production_steps=300,
            frame_interval_steps=5,
            checkpoint_interval_steps=50,
        ),
        transport=MDSettings(
            timestep_fs=2.0,
            n_equilibration_steps=100,
            n_production_steps=400,
            frame_interval_steps=4,
            production_ensemble="nve",
            checkpoint_interval_steps=100,
        ),
        dihedral_window_ps=0.1,
    ),
}


def doping_settings(preset: str = "paper", **overrides) -> DopingStudySettings:
    """A preset with any field replaced (nested ``npt``/``transport`` fields as dicts merge into the preset's)."""
    if preset not in DOPING_PRESETS:
        raise InputError(
            f"unknown doping preset {preset!r}; choose from {', '.join(DOPING_PRESETS)}"
        )
    base = DOPING_PRESETS[preset].model_dump()
    for key, value in overrides.items():
        if value is None:
            continue
        base[key] = (
            {**base[key], **value}
            if isinstance(value, dict) and isinstance(base.get(key), dict)
            else value
        )
    return DopingStudySettings.model_validate(base)
