"""The settings of one NVT Langevin run and their presets: light (no ASE), so that the command line can offer
the presets without loading an MD engine."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from na_lattice_flows.errors import InputError
from na_lattice_flows.md.restart import PositiveFloat, RestartableMDSettings, short_hash
from na_lattice_flows.settings import SETTINGS


class MDSettings(RestartableMDSettings):
    """One NVT Langevin run. Defaults are the paper's preset."""

    temperature_K: PositiveFloat = SETTINGS.temperature_K
    timestep_fs: PositiveFloat = 1.5
    n_equilibration_steps: int = Field(10_000, ge=0)
    n_production_steps: int = Field(40_000, gt=0)
    frame_interval_steps: int = Field(4, gt=0, description="MD steps between stored frames")
    friction_per_fs: PositiveFloat = Field(0.01, description="Langevin friction (0.01/fs = 10/ps)")
    checkpoint_interval_steps: int = Field(1000, gt=0)
    production_ensemble: Literal["langevin", "nve"] = Field(
        "langevin",
        description="'nve': velocity Verlet after the Langevin equilibration (unperturbed dynamics for D_sigma)",
    )

    def fingerprint(self) -> str:
        """What the trajectory depends on (not the checkpoint interval), to refuse resuming a different run."""
        physics = self.physics()
        if self.production_ensemble == "langevin":
            del physics[
                "production_ensemble"
            ]  # added in 0.3: runs of earlier releases keep their fingerprint
        return short_hash(json.dumps(physics, sort_keys=True))


MD_PRESETS = {
    "paper": MDSettings(),
    # the demo: 0.15 + 0.45 ps, enough to exercise every step of the analysis (not to converge D)
    "short": MDSettings(
        n_equilibration_steps=100,
        n_production_steps=300,
        frame_interval_steps=4,
        checkpoint_interval_steps=100,
    ),
    # a CPU campaign: 2.1 ps of equilibration and 10.05 ps of production (past the 10 ps from which the melt
    # filter applies), 800 K, 1.5 fs, a frame every 4 steps as the paper; checkpoints every 500 steps
    "campaign": MDSettings(
        n_equilibration_steps=1400,
        n_production_steps=6700,
        frame_interval_steps=4,
        checkpoint_interval_steps=500,
    ),
}


def md_settings(preset: str = "paper", **overrides) -> MDSettings:
    """The settings of ``preset`` with ``overrides`` (None values left out), validated."""
    if preset not in MD_PRESETS:
        raise InputError(f"unknown MD preset {preset!r}; choose from {', '.join(MD_PRESETS)}")
    # validated, so that a mistyped or out-of-range field fails here (at submission), not on the worker
    updates = {k: v for k, v in overrides.items() if v is not None}
    return MDSettings.model_validate({**MD_PRESETS[preset].model_dump(), **updates})
