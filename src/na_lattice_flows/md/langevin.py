"""NVT Langevin MD with an ASE calculator (an MLP, or GPAW for AIMD), restartable through ``md.restart``: its
integrator adapter holds the atoms, the thermostat random-number state and, for an NVE production, the
velocity-Verlet integrator; the run function is here, the settings and presets in ``md.settings``.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from na_lattice_flows.md.restart import Run, run_restartable
from na_lattice_flows.md.settings import MDSettings


class LangevinIntegrator:
    """ASE's Langevin (and velocity Verlet for an NVE production) on one system; the adapter of ``run_restartable``."""

    def __init__(self, atoms: Atoms, settings: MDSettings, record_labels: bool):
        self.atoms, self.settings, self.record_labels = atoms, settings, record_labels
        self.rng = np.random.default_rng(settings.seed)
        self.thermostat = Langevin(
            atoms,
            timestep=settings.timestep_fs * units.fs,
            temperature_K=settings.temperature_K,
            friction=settings.friction_per_fs / units.fs,
            fixcm=True,
            rng=self.rng,
        )
        self.verlet = (
            VelocityVerlet(atoms, timestep=settings.timestep_fs * units.fs)
            if settings.production_ensemble == "nve"
            else None
        )
        self.forces = None

    def start(self) -> None:
        MaxwellBoltzmannDistribution(
            self.atoms, temperature_K=self.settings.temperature_K, rng=self.rng
        )
        Stationary(self.atoms)

    def restore(self, saved) -> None:
        self.atoms.set_positions(saved["positions"])
        self.atoms.set_momenta(saved["momenta"])
        self.rng.bit_generator.state = json.loads(str(saved["rng_state"]))

    def state(self) -> dict:
        return {
            "positions": self.atoms.get_positions(),
            "momenta": self.atoms.get_momenta(),
            "rng_state": json.dumps(self.rng.bit_generator.state),
        }

    def step(self, completed: int) -> None:
        production = self.verlet is not None and completed > self.settings.n_equilibration_steps
        self.forces = (self.verlet if production else self.thermostat).step(self.forces)

    def frames(self) -> list[dict]:
        frame = {
            "positions": self.atoms.get_positions(),
            "velocities": self.atoms.get_velocities() * units.fs,
        }  # A/fs
        if self.record_labels:
            frame["forces"], frame["energies"] = (
                self.atoms.get_forces(),
                self.atoms.get_potential_energy(),
            )
        return [frame]


def run_langevin_md(
    atoms: Atoms,
    calculator,
    settings: MDSettings,
    trajectory_path: str | Path,
    attrs: dict | None = None,
    progress: bool = True,
    record_labels: bool = False,
) -> Path:
    """Run (or resume) the MD of ``atoms`` and write its trajectory to ``trajectory_path`` (HDF5). While it runs,
    the checkpoint (``<name>.checkpoint.npz``) and frame segments (``<name>.frames/``) sit beside it; both go when
    the trajectory is complete; its ``resumed_from_step`` attribute says where the last process started (0: from
    the beginning). A finished trajectory with the same settings is returned as it is. ``record_labels``: store
    the calculator's forces and potential energy of every frame too (AIMD: DFT labels for benchmarks and
    training; no extra calculation, the step computed them)."""
    trajectory_path = Path(trajectory_path)
    atoms = atoms.copy()
    atoms.calc = calculator
    fingerprint = settings.fingerprint()
    run = Run(
        trajectory_path=trajectory_path,
        settings=settings,
        fingerprint=fingerprint,
        symbols=atoms.get_chemical_symbols(),
        cell=atoms.cell.array,
        attrs={"engine": "ase", **(attrs or {})},
    )
    checkpoint_path = trajectory_path.with_name(trajectory_path.stem + ".checkpoint.npz")
    run_restartable(
        partial(LangevinIntegrator, atoms, settings, record_labels),
        [run],
        checkpoint_path,
        fingerprint,
        "MD run (settings or structure changed)",
        progress,
    )
    return trajectory_path
