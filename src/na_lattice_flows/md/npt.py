"""NPT MD with a fully flexible cell (the doped study: Nose-Hoover thermostat and barostat, 0.2 ps and 2 ps,
2 fs), restartable with the NVT engine's contract: frames (positions, velocities and the cell) go to segment
files, a checkpoint is saved atomically every N steps, and a killed run resumes from its last checkpoint and
equals an uninterrupted one frame for frame.

The integrator is ASE's ``MTKNPT`` (Martyna-Tobias-Klein, full 9-component cell fluctuations). The checkpoint
holds its extended-system state (cell momenta, thermostat and barostat chain variables) as well as positions,
momenta and cell; ASE offers no API for that state, so it is read from and written to the integrator's
attributes here (``_MTK_STATE``), which the kill-and-resume test guards."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.nose_hoover_chain import MTKNPT
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from pydantic import Field

from na_lattice_flows.md.restart import (
    PositiveFloat,
    RestartableMDSettings,
    Run,
    run_restartable,
    short_hash,
)

EV_PER_A3_PER_GPA = units.GPa


class NPTSettings(RestartableMDSettings):
    """One NPT run. Defaults: the doped study's integrator settings."""

    temperature_K: PositiveFloat = 300.0
    pressure_GPa: float = Field(0.0, allow_inf_nan=False)
    timestep_fs: PositiveFloat = 2.0
    thermostat_time_fs: PositiveFloat = Field(
        200.0, description="Nose-Hoover chain time constant (0.2 ps)"
    )
    barostat_time_fs: PositiveFloat = Field(2000.0, description="MTK barostat time constant (2 ps)")
    n_equilibration_steps: int = Field(5000, ge=0)
    n_production_steps: int = Field(20_000, gt=0)
    frame_interval_steps: int = Field(10, gt=0, description="MD steps between stored frames")
    checkpoint_interval_steps: int = Field(500, gt=0)
    compressibility_per_GPa: float = Field(
        1 / 30,
        gt=0,
        description="torch-sim's C-rescale barostat only: the isothermal compressibility it assumes (Na3SbS4: B ~ 30 GPa)",
    )

    def fingerprint(self, start: str = "") -> str:
        """What the trajectory depends on (with ``start``: a hash of the starting state when it is given)."""
        return short_hash(json.dumps({**self.physics(), "start": start}, sort_keys=True))


# the MTKNPT attributes that make up its state beyond positions, momenta and cell (ASE 3.25-3.29)
_MTK_STATE = {
    "cell_momenta": ("", "_p_g"),
    "thermostat_eta": ("_thermostat", "_eta"),
    "thermostat_p_eta": ("_thermostat", "_p_eta"),
    "barostat_xi": ("_barostat", "_xi"),
    "barostat_p_xi": ("_barostat", "_p_xi"),
}


def _mtk_state(dynamics: MTKNPT) -> dict[str, np.ndarray]:
    return {
        key: np.array(getattr(getattr(dynamics, owner) if owner else dynamics, name))
        for key, (owner, name) in _MTK_STATE.items()
    }


def _restore_mtk_state(dynamics: MTKNPT, saved) -> None:
    for key, (owner, name) in _MTK_STATE.items():
        setattr(getattr(dynamics, owner) if owner else dynamics, name, np.array(saved[key]))


def state_fingerprint(atoms: Atoms, velocities_A_per_fs: np.ndarray | None) -> str:
    """A hash of a given starting state (fine-grid runs start from another run's last frame)."""
    digest = hashlib.sha256(
        np.ascontiguousarray(atoms.get_positions()).tobytes()
        + np.ascontiguousarray(atoms.cell.array).tobytes()
    )
    if velocities_A_per_fs is not None:
        digest.update(np.ascontiguousarray(velocities_A_per_fs, dtype=float).tobytes())
    return digest.hexdigest()[:16]


class MTKIntegrator:
    """ASE's MTKNPT on one system, its extended-system state in the checkpoint; the adapter of ``run_restartable``."""

    def __init__(self, atoms: Atoms, settings: NPTSettings, velocities_A_per_fs: np.ndarray | None):
        self.atoms, self.settings, self.velocities_A_per_fs = atoms, settings, velocities_A_per_fs
        self.dynamics = None

    def _integrator(self) -> MTKNPT:
        s = self.settings
        return MTKNPT(
            self.atoms,
            timestep=s.timestep_fs * units.fs,
            temperature_K=s.temperature_K,
            pressure_au=s.pressure_GPa * EV_PER_A3_PER_GPA,
            tdamp=s.thermostat_time_fs * units.fs,
            pdamp=s.barostat_time_fs * units.fs,
        )

    def start(self) -> None:
        if self.velocities_A_per_fs is not None:
            self.atoms.set_velocities(np.asarray(self.velocities_A_per_fs) / units.fs)
        else:
            MaxwellBoltzmannDistribution(
                self.atoms,
                temperature_K=self.settings.temperature_K,
                rng=np.random.default_rng(self.settings.seed),
            )
            Stationary(self.atoms)
        self.dynamics = self._integrator()

    def restore(self, saved) -> None:
        self.atoms.set_cell(saved["cell"], scale_atoms=False)
        self.atoms.set_positions(saved["positions"])
        self.atoms.set_momenta(saved["momenta"])
        self.dynamics = self._integrator()
        _restore_mtk_state(self.dynamics, saved)

    def state(self) -> dict:
        return {
            "positions": self.atoms.get_positions(),
            "momenta": self.atoms.get_momenta(),
            "cell": self.atoms.cell.array,
            **_mtk_state(self.dynamics),
        }

    def step(self, completed: int) -> None:
        self.dynamics.step()

    def frames(self) -> list[dict]:
        atoms = self.atoms
        return [
            {
                "positions": atoms.get_positions(),
                "velocities": atoms.get_velocities() * units.fs,
                "cells": atoms.cell.array.copy(),
            }
        ]


def run_npt_md(
    atoms: Atoms,
    calculator,
    settings: NPTSettings,
    trajectory_path: str | Path,
    velocities_A_per_fs: np.ndarray | None = None,
    attrs: dict | None = None,
    progress: bool = True,
) -> Path:
    """Run (or resume) NPT MD of ``atoms`` and write its trajectory (HDF5 with a ``cells`` dataset) to
    ``trajectory_path``. ``velocities_A_per_fs`` continue a previous run's state; without them the velocities
    are drawn from Maxwell-Boltzmann with the settings' seed. Checkpoint and segments as ``run_langevin_md``."""
    trajectory_path = Path(trajectory_path)
    fingerprint = settings.fingerprint(
        state_fingerprint(atoms, velocities_A_per_fs) if velocities_A_per_fs is not None else ""
    )
    atoms = atoms.copy()
    atoms.calc = calculator
    attrs = {
        "engine": "ase-mtknpt",
        "ensemble": "npt",
        "pressure_GPa": settings.pressure_GPa,
        **(attrs or {}),
    }
    run = Run(
        trajectory_path=trajectory_path,
        settings=settings,
        fingerprint=fingerprint,
        symbols=atoms.get_chemical_symbols(),
        cell=atoms.cell.array,
        attrs=attrs,
    )
    checkpoint_path = trajectory_path.with_name(trajectory_path.stem + ".checkpoint.npz")
    run_restartable(
        partial(MTKIntegrator, atoms, settings, velocities_A_per_fs),
        [run],
        checkpoint_path,
        fingerprint,
        "NPT run (settings or structure changed)",
        progress,
        "NPT steps",
    )
    return trajectory_path
