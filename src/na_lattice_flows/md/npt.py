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
import os
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.nose_hoover_chain import MTKNPT
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from na_lattice_flows.md.langevin import FrameSegments, finish_trajectory, is_trajectory_complete

EV_PER_A3_PER_GPA = units.GPa


class NPTSettings(BaseModel):
    """One NPT run. Defaults: the doped study's integrator settings."""

    model_config = ConfigDict(extra="forbid")

    temperature_K: float = Field(300.0, gt=0, allow_inf_nan=False)
    pressure_GPa: float = Field(0.0, allow_inf_nan=False)
    timestep_fs: float = Field(2.0, gt=0, allow_inf_nan=False)
    thermostat_time_fs: float = Field(200.0, gt=0, allow_inf_nan=False, description="Nose-Hoover chain time constant (0.2 ps)")
    barostat_time_fs: float = Field(2000.0, gt=0, allow_inf_nan=False, description="MTK barostat time constant (2 ps)")
    n_equilibration_steps: int = Field(5000, ge=0)
    n_production_steps: int = Field(20_000, gt=0)
    frame_interval_steps: int = Field(10, gt=0)
    checkpoint_interval_steps: int = Field(500, gt=0)
    seed: int = 0
    store_velocities: bool = True
    compressibility_per_GPa: float = Field(
        1 / 30, gt=0, description="torch-sim's C-rescale barostat only: the isothermal compressibility it assumes (Na3SbS4: B ~ 30 GPa)"
    )

    @property
    def n_steps(self) -> int:
        return self.n_equilibration_steps + self.n_production_steps

    def fingerprint(self, start: str = "") -> str:
        """What the trajectory depends on (with ``start``: a hash of the starting state when it is given)."""
        physics = self.model_dump(exclude={"checkpoint_interval_steps", "store_velocities"})
        return hashlib.sha256(json.dumps({**physics, "start": start}, sort_keys=True).encode()).hexdigest()[:16]


# the MTKNPT attributes that make up its state beyond positions, momenta and cell (ASE 3.25-3.29)
_MTK_STATE = {"cell_momenta": ("", "_p_g"), "thermostat_eta": ("_thermostat", "_eta"), "thermostat_p_eta": ("_thermostat", "_p_eta"),
              "barostat_xi": ("_barostat", "_xi"), "barostat_p_xi": ("_barostat", "_p_xi")}  # fmt: skip


def _mtk_state(dynamics: MTKNPT) -> dict[str, np.ndarray]:
    return {key: np.array(getattr(getattr(dynamics, owner) if owner else dynamics, name)) for key, (owner, name) in _MTK_STATE.items()}


def _restore_mtk_state(dynamics: MTKNPT, saved) -> None:
    for key, (owner, name) in _MTK_STATE.items():
        setattr(getattr(dynamics, owner) if owner else dynamics, name, np.array(saved[key]))


def state_fingerprint(atoms: Atoms, velocities_A_per_fs: np.ndarray | None) -> str:
    """A hash of a given starting state (fine-grid runs start from another run's last frame)."""
    digest = hashlib.sha256(np.ascontiguousarray(atoms.get_positions()).tobytes() + np.ascontiguousarray(atoms.cell.array).tobytes())
    if velocities_A_per_fs is not None:
        digest.update(np.ascontiguousarray(velocities_A_per_fs, dtype=float).tobytes())
    return digest.hexdigest()[:16]


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
    checkpoint_path = trajectory_path.with_name(trajectory_path.stem + ".checkpoint.npz")
    fingerprint = settings.fingerprint(state_fingerprint(atoms, velocities_A_per_fs) if velocities_A_per_fs is not None else "")
    if is_trajectory_complete(trajectory_path, fingerprint):
        return trajectory_path
    segments = FrameSegments(trajectory_path.with_name(trajectory_path.stem + ".frames"))
    atoms = atoms.copy()
    atoms.calc = calculator
    step, saved = 0, None
    if checkpoint_path.is_file():
        saved = np.load(checkpoint_path)
        if str(saved["fingerprint"]) != fingerprint or len(saved["positions"]) != len(atoms):
            raise ValueError(f"{checkpoint_path} belongs to a different NPT run (settings or structure changed); remove it to start afresh")
        atoms.set_cell(saved["cell"], scale_atoms=False)
        atoms.set_positions(saved["positions"])
        atoms.set_momenta(saved["momenta"])
        step = int(saved["step"])
    elif velocities_A_per_fs is not None:
        atoms.set_velocities(np.asarray(velocities_A_per_fs) / units.fs)
    else:
        MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K, rng=np.random.default_rng(settings.seed))
        Stationary(atoms)
    segments.drop_after(step)
    resumed_from_step = step
    dynamics = MTKNPT(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=settings.temperature_K,
        pressure_au=settings.pressure_GPa * EV_PER_A3_PER_GPA,
        tdamp=settings.thermostat_time_fs * units.fs,
        pdamp=settings.barostat_time_fs * units.fs,
    )
    if saved is not None:
        _restore_mtk_state(dynamics, saved)
    frames: dict[str, list] = {"steps": [], "positions": [], "velocities": [], "cells": []}

    def record_if_frame(completed: int) -> None:
        production = completed - settings.n_equilibration_steps
        if production >= 0 and production % settings.frame_interval_steps == 0:
            frames["steps"].append(completed)
            frames["positions"].append(atoms.get_positions())
            frames["velocities"].append(atoms.get_velocities() * units.fs)
            frames["cells"].append(atoms.cell.array.copy())

    def checkpoint(completed: int) -> None:
        segments.write(completed, frames["steps"], frames["positions"], frames["velocities"] if settings.store_velocities else None, frames["cells"])
        for values in frames.values():
            values.clear()
        temporary = checkpoint_path.with_suffix(".tmp.npz")
        np.savez(temporary, positions=atoms.get_positions(), momenta=atoms.get_momenta(), cell=atoms.cell.array, step=completed,
                 fingerprint=fingerprint, **_mtk_state(dynamics))  # fmt: skip
        os.replace(temporary, checkpoint_path)  # atomic, as the NVT engine's

    if step == 0:
        record_if_frame(0)
    with tqdm(total=settings.n_steps, initial=step, disable=not progress, desc="NPT steps", unit="step") as bar:
        for completed in range(step + 1, settings.n_steps + 1):
            dynamics.step()
            record_if_frame(completed)
            if completed % settings.checkpoint_interval_steps == 0 or completed == settings.n_steps:
                checkpoint(completed)
            bar.update()
    attrs = {"engine": "ase-mtknpt", "ensemble": "npt", "pressure_GPa": settings.pressure_GPa, "resumed_from_step": resumed_from_step,
             **(attrs or {}), "settings_fingerprint": fingerprint}  # fmt: skip
    finish_trajectory(trajectory_path, atoms.get_chemical_symbols(), atoms.cell.array, settings, segments, attrs)
    checkpoint_path.unlink(missing_ok=True)
    return trajectory_path
