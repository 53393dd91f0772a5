"""Batched NPT MD with torch-sim: the runs of a fine temperature grid (each from its own start: positions,
velocities, cell) advance together, one model call per step, the way a GPU worker runs the doped study's fine
grid. torch-sim's fully flexible NPT integrator is the anisotropic stochastic cell rescaling (C-rescale,
Del Tatto et al. 2022) with a stochastic velocity-rescaling thermostat, not the MTK Nose-Hoover scheme of the
ASE engine (torch-sim's Nose-Hoover NPT is isotropic only, which cannot let a cubic cell turn tetragonal); it
samples the same NPT ensemble.

Same contract as the other engines: one HDF5 trajectory per run with the cell of every frame, atomic segments,
and one batch checkpoint (positions, momenta, cells, the torch random-number state, step) every N steps, so a
killed batch resumes and equals an uninterrupted one frame for frame."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
from ase import Atoms, units

from na_lattice_flows.errors import InputError
from na_lattice_flows.md.batched import (
    batch_checkpoint_path,
    check_batchable,
    split_frames,
    system_bounds,
)
from na_lattice_flows.md.npt import EV_PER_A3_PER_GPA, NPTSettings, state_fingerprint
from na_lattice_flows.md.restart import Run, run_restartable


class CRescaleIntegrator:
    """torch-sim's anisotropic C-rescale NPT on a batch, each run from its own start; the adapter of ``run_restartable``."""

    def __init__(
        self,
        systems: list[Atoms],
        model,
        settings: list[NPTSettings],
        velocities_A_per_fs: list[np.ndarray | None],
    ):
        import torch
        import torch_sim as ts
        from torch_sim.integrators.npt import npt_crescale_init
        from torch_sim.units import MetalUnits

        self.systems, self.model, self.velocities_A_per_fs = systems, model, velocities_A_per_fs
        self.bounds = system_bounds(systems)
        common, device, dtype = settings[0], model.device, model.dtype
        state = ts.initialize_state([atoms.copy() for atoms in systems], device=device, dtype=dtype)
        state.rng = common.seed
        self.kT = (
            torch.tensor([s.temperature_K for s in settings], device=device, dtype=dtype)
            * MetalUnits.temperature
        )
        # torch-sim's metal time unit is ASE's
        self.dt = torch.tensor(common.timestep_fs * units.fs, device=device, dtype=dtype)
        tau_p = torch.tensor(common.barostat_time_fs * units.fs, device=device, dtype=dtype)
        self.tau_t = torch.tensor(common.thermostat_time_fs * units.fs, device=device, dtype=dtype)
        compressibility = torch.tensor(
            common.compressibility_per_GPa / EV_PER_A3_PER_GPA, device=device, dtype=dtype
        )
        self.pressure = torch.tensor(
            common.pressure_GPa * EV_PER_A3_PER_GPA, device=device, dtype=dtype
        )
        self.md_state = npt_crescale_init(
            state,
            model,
            kT=self.kT,
            dt=self.dt,
            tau_p=tau_p,
            isothermal_compressibility=compressibility,
        )

    def _recompute(self) -> None:
        # forces and stress of the restored or given positions and cells
        output = self.model(self.md_state)
        self.md_state.energy, self.md_state.forces, self.md_state.stress = (
            output["energy"],
            output["forces"],
            output["stress"],
        )

    def start(self) -> None:
        import torch

        if all(v is None for v in self.velocities_A_per_fs):
            return
        device, dtype = self.model.device, self.model.dtype
        momenta = self.md_state.momenta.detach().clone()
        for i, velocities in enumerate(self.velocities_A_per_fs):
            if velocities is not None:
                masses = torch.as_tensor(self.systems[i].get_masses(), device=device, dtype=dtype)[
                    :, None
                ]
                momenta[self.bounds[i] : self.bounds[i + 1]] = masses * torch.as_tensor(
                    np.asarray(velocities) / units.fs, device=device, dtype=dtype
                )
        self.md_state.momenta = momenta
        self._recompute()

    def restore(self, saved) -> None:
        import torch

        device = self.model.device
        self.md_state.positions = torch.from_numpy(saved["positions"]).to(device)
        self.md_state.cell = torch.from_numpy(saved["cells"]).to(device)
        self.md_state.momenta = torch.from_numpy(saved["momenta"]).to(device)
        self.md_state.rng.set_state(torch.from_numpy(saved["rng_state"]))
        self._recompute()

    def state(self) -> dict:
        md = self.md_state
        return {
            "positions": md.positions.detach().cpu().numpy(),
            "momenta": md.momenta.detach().cpu().numpy(),
            "cells": md.cell.detach().cpu().numpy(),
            "rng_state": md.rng.get_state().numpy(),
        }

    def step(self, completed: int) -> None:
        from torch_sim.integrators.npt import npt_crescale_triclinic_step

        self.md_state = npt_crescale_triclinic_step(
            self.md_state,
            self.model,
            dt=self.dt,
            kT=self.kT,
            external_pressure=self.pressure,
            tau=self.tau_t,
        )

    def frames(self) -> list[dict]:
        md = self.md_state
        frames = split_frames(
            self.bounds,
            md.positions.detach().cpu().numpy(),
            md.velocities.detach().cpu().numpy() * units.fs,
        )
        for frame, cell in zip(frames, md.row_vector_cell.detach().cpu().numpy(), strict=True):
            frame["cells"] = cell
        return frames


def run_torchsim_npt_md(
    systems: list[Atoms],
    model,
    settings: list[NPTSettings],
    trajectory_paths: list[str | Path],
    velocities_A_per_fs: list[np.ndarray | None] | None = None,
    attrs: list[dict] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Run (or resume) NPT MD of every system in one torch-sim batch; system i at ``settings[i]`` (they may differ
    only in temperature) into ``trajectory_paths[i]``, from ``velocities_A_per_fs[i]`` when given (else drawn
    at its temperature with the shared seed). ``model``: a torch-sim ``ModelInterface`` that computes stress."""
    count = len(systems)
    velocities_A_per_fs = velocities_A_per_fs or [None] * count
    if not count or not (
        count == len(settings) == len(trajectory_paths) == len(velocities_A_per_fs)
    ):
        raise InputError(
            "give one NPT setting, trajectory path and start (velocities or None) per system, and at least one system"
        )
    check_batchable(
        settings, "runs batched in one torch-sim NPT must share every setting except temperature_K"
    )
    paths = [Path(p) for p in trajectory_paths]
    attrs = attrs or [{} for _ in systems]
    fingerprints = [
        s.fingerprint(state_fingerprint(a, v) if v is not None else "")
        for s, a, v in zip(settings, systems, velocities_A_per_fs, strict=True)
    ]
    header = {
        "engine": "torchsim-crescale",
        "ensemble": "npt",
        "pressure_GPa": settings[0].pressure_GPa,
    }
    runs = [
        Run(
            trajectory_path=path,
            settings=s,
            fingerprint=f,
            symbols=atoms.get_chemical_symbols(),
            cell=atoms.cell.array,
            attrs={**header, **extra},
        )
        for atoms, s, path, f, extra in zip(
            systems, settings, paths, fingerprints, attrs, strict=True
        )
    ]
    integrator = partial(CRescaleIntegrator, systems, model, settings, velocities_A_per_fs)
    return run_restartable(
        integrator,
        runs,
        batch_checkpoint_path(paths),
        json.dumps(fingerprints),
        "NPT batch (settings or starts changed)",
        progress,
        f"NPT steps ({count} runs)",
    )
