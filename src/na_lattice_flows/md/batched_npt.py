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
import os
from pathlib import Path

import numpy as np
from ase import Atoms, units
from tqdm.auto import tqdm

from na_lattice_flows.md.batched import batch_checkpoint_path
from na_lattice_flows.md.langevin import FrameSegments, finish_trajectory, is_trajectory_complete
from na_lattice_flows.md.npt import EV_PER_A3_PER_GPA, NPTSettings, state_fingerprint


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
    import torch
    import torch_sim as ts
    from torch_sim.integrators.npt import npt_crescale_init, npt_crescale_triclinic_step
    from torch_sim.units import MetalUnits

    count = len(systems)
    velocities_A_per_fs = velocities_A_per_fs or [None] * count
    if not count or not (count == len(settings) == len(trajectory_paths) == len(velocities_A_per_fs)):
        raise ValueError("give one NPT setting, trajectory path and start (velocities or None) per system, and at least one system")
    shared = [s.model_dump(exclude={"temperature_K"}) for s in settings]
    if any(entry != shared[0] for entry in shared[1:]):
        raise ValueError("runs batched in one torch-sim NPT must share every setting except temperature_K")
    paths = [Path(p) for p in trajectory_paths]
    attrs = attrs or [{} for _ in systems]
    common = settings[0]
    fingerprints = [s.fingerprint(state_fingerprint(a, v) if v is not None else "") for s, a, v in zip(settings, systems, velocities_A_per_fs, strict=True)]
    checkpoint_path = batch_checkpoint_path(paths)
    if all(is_trajectory_complete(p, f) for p, f in zip(paths, fingerprints, strict=True)):
        checkpoint_path.unlink(missing_ok=True)
        return paths
    segments = [FrameSegments(p.with_name(p.stem + ".frames")) for p in paths]
    bounds = np.cumsum([0] + [len(atoms) for atoms in systems])
    batch_fingerprint = json.dumps(fingerprints)
    device, dtype = model.device, model.dtype

    state = ts.initialize_state([atoms.copy() for atoms in systems], device=device, dtype=dtype)
    state.rng = common.seed
    kT = torch.tensor([s.temperature_K for s in settings], device=device, dtype=dtype) * MetalUnits.temperature
    dt = torch.tensor(common.timestep_fs * units.fs, device=device, dtype=dtype)  # torch-sim's metal time unit is ASE's
    tau_p = torch.tensor(common.barostat_time_fs * units.fs, device=device, dtype=dtype)
    tau_t = torch.tensor(common.thermostat_time_fs * units.fs, device=device, dtype=dtype)
    compressibility = torch.tensor(common.compressibility_per_GPa / EV_PER_A3_PER_GPA, device=device, dtype=dtype)
    pressure = torch.tensor(common.pressure_GPa * EV_PER_A3_PER_GPA, device=device, dtype=dtype)
    md_state = npt_crescale_init(state, model, kT=kT, dt=dt, tau_p=tau_p, isothermal_compressibility=compressibility)
    step = 0
    if checkpoint_path.is_file():
        saved = np.load(checkpoint_path)
        if str(saved["fingerprint"]) != batch_fingerprint:
            raise ValueError(f"{checkpoint_path} belongs to a different NPT batch (settings or starts changed); remove it to start afresh")
        md_state.positions = torch.from_numpy(saved["positions"]).to(device)
        md_state.cell = torch.from_numpy(saved["cells"]).to(device)
        md_state.momenta = torch.from_numpy(saved["momenta"]).to(device)
        md_state.rng.set_state(torch.from_numpy(saved["rng_state"]))
        step = int(saved["step"])
    else:
        momenta = md_state.momenta.detach().clone()
        for i, velocities in enumerate(velocities_A_per_fs):
            if velocities is not None:
                masses = torch.as_tensor(systems[i].get_masses(), device=device, dtype=dtype)[:, None]
                momenta[bounds[i] : bounds[i + 1]] = masses * torch.as_tensor(np.asarray(velocities) / units.fs, device=device, dtype=dtype)
        md_state.momenta = momenta
    if step or any(v is not None for v in velocities_A_per_fs):
        output = model(md_state)  # forces and stress of the restored positions and cells
        md_state.energy, md_state.forces, md_state.stress = output["energy"], output["forces"], output["stress"]
    for segment in segments:
        segment.drop_after(step)

    buffers: list[dict[str, list]] = [{"step": [], "positions": [], "velocities": [], "cells": []} for _ in systems]

    def record_if_frame(completed: int) -> None:
        production = completed - common.n_equilibration_steps
        if production < 0 or production % common.frame_interval_steps:
            return
        positions = md_state.positions.detach().cpu().numpy()
        velocities = md_state.velocities.detach().cpu().numpy() * units.fs
        cells = md_state.row_vector_cell.detach().cpu().numpy()
        for i, buffer in enumerate(buffers):
            buffer["step"].append(completed)
            buffer["positions"].append(positions[bounds[i] : bounds[i + 1]])
            buffer["velocities"].append(velocities[bounds[i] : bounds[i + 1]])
            buffer["cells"].append(cells[i])

    def checkpoint(completed: int) -> None:
        for segment, buffer in zip(segments, buffers, strict=True):
            segment.write(completed, buffer["step"], buffer["positions"], buffer["velocities"] if common.store_velocities else None, buffer["cells"])
            for values in buffer.values():
                values.clear()
        temporary = checkpoint_path.with_suffix(".tmp.npz")
        np.savez(temporary, positions=md_state.positions.detach().cpu().numpy(), momenta=md_state.momenta.detach().cpu().numpy(),
                 cells=md_state.cell.detach().cpu().numpy(), rng_state=md_state.rng.get_state().numpy(), step=completed,
                 fingerprint=batch_fingerprint)  # fmt: skip
        os.replace(temporary, checkpoint_path)

    if step == 0:
        record_if_frame(0)
    resumed_from_step = step
    with tqdm(total=common.n_steps, initial=step, disable=not progress, desc=f"NPT steps ({count} runs)", unit="step") as bar:
        for completed in range(step + 1, common.n_steps + 1):
            md_state = npt_crescale_triclinic_step(md_state, model, dt=dt, kT=kT, external_pressure=pressure, tau=tau_t)
            record_if_frame(completed)
            if completed % common.checkpoint_interval_steps == 0 or completed == common.n_steps:
                checkpoint(completed)
            bar.update()
    for i, (atoms, path) in enumerate(zip(systems, paths, strict=True)):
        header = {"engine": "torchsim-crescale", "ensemble": "npt", "pressure_GPa": common.pressure_GPa, "resumed_from_step": resumed_from_step,
                  **attrs[i], "settings_fingerprint": fingerprints[i]}  # fmt: skip
        finish_trajectory(path, atoms.get_chemical_symbols(), atoms.cell.array, settings[i], segments[i], header)
    checkpoint_path.unlink(missing_ok=True)
    return paths
