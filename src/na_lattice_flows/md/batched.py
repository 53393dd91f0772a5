"""Batched NVT Langevin MD with torch-sim: many structures (or one structure at several temperatures) advance
together in one model call per step, the main lever for throughput on a GPU; it runs on CPU too.

Same contract as the ASE engine (``md.langevin.run_langevin_md``): each structure gets its own HDF5 trajectory, frames
go to atomic per-checkpoint segments, and one batch checkpoint (positions, momenta, the torch random-number
state, the fixed centres of mass, step) is saved atomically every N steps, so a killed batch resumes and, with
the same seed, equals an uninterrupted one frame for frame.

The step is torch-sim's BAOAB Langevin integrator. The loop is ours because torch-sim's ``integrate`` restarts
from a trajectory file without the momenta or the random-number state, so it cannot resume a run exactly. The
centre of mass of each structure is fixed (torch-sim's ``FixCom``), as ASE's Langevin does with ``fixcm``: a
free centre of mass random-walks under the thermostat (~1e-2 A^2/ps for 100 atoms at 800 K), the size of the
diffusion coefficients being measured.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms, units
from tqdm.auto import tqdm

from na_lattice_flows.md.langevin import FrameSegments, MDSettings, finish_trajectory, is_trajectory_complete


def check_batchable(settings: list[MDSettings]) -> None:
    """A batch shares one time step, step count, friction, seed and frame schedule; only T may differ."""
    shared = [s.model_dump(exclude={"temperature_K"}) for s in settings]
    if any(entry != shared[0] for entry in shared[1:]):
        raise ValueError("structures batched in one torch-sim MD must share every MD setting except temperature_K")


def batch_checkpoint_path(trajectory_paths: list[Path]) -> Path:
    """Deterministic in the batch's trajectories, so that a rerun of the killed job finds it."""
    digest = hashlib.sha256("\n".join(str(p.resolve()) for p in trajectory_paths).encode()).hexdigest()[:12]
    first = trajectory_paths[0]
    return first.with_name(f"{first.stem}.batch-{digest}.checkpoint.npz")


def run_torchsim_langevin_md(
    systems: list[Atoms],
    model,
    settings: list[MDSettings],
    trajectory_paths: list[str | Path],
    attrs: list[dict] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Run (or resume) the MD of every system in one torch-sim batch; system i at ``settings[i]`` (they differ at
    most in temperature) into ``trajectory_paths[i]``. ``model`` is a torch-sim ``ModelInterface``."""
    import torch
    import torch_sim as ts
    from torch_sim.constraints import FixCom
    from torch_sim.integrators.md import MDState
    from torch_sim.integrators.nvt import nvt_langevin_init, nvt_langevin_step
    from torch_sim.units import MetalUnits

    if not (len(systems) == len(settings) == len(trajectory_paths)) or not systems:
        raise ValueError("give one MD setting and one trajectory path per system (and at least one system)")
    check_batchable(settings)
    paths = [Path(p) for p in trajectory_paths]
    attrs = attrs or [{} for _ in systems]
    common = settings[0]
    fingerprints = [s.fingerprint() for s in settings]
    checkpoint_path = batch_checkpoint_path(paths)
    if all(is_trajectory_complete(p, f) for p, f in zip(paths, fingerprints, strict=True)):
        _remove_leftovers(paths, checkpoint_path)  # a kill after the last trajectory was written
        return paths
    segments = [FrameSegments(p.with_name(p.stem + ".frames")) for p in paths]
    bounds = np.cumsum([0] + [len(atoms) for atoms in systems])
    batch_fingerprint = json.dumps([fingerprints, [atoms.get_chemical_formula() for atoms in systems]])

    state = ts.initialize_state([atoms.copy() for atoms in systems], device=model.device, dtype=model.dtype)
    state.rng = common.seed
    state.constraints = [FixCom(system_idx=torch.arange(len(systems)))]
    kT = torch.tensor([s.temperature_K for s in settings], device=model.device, dtype=model.dtype) * MetalUnits.temperature
    # torch-sim's metal time unit is ASE's, sqrt(amu A^2 / eV) = 10.18 fs
    dt = torch.tensor(common.timestep_fs * units.fs, device=model.device, dtype=model.dtype)
    gamma = torch.tensor(common.friction_per_fs / units.fs, device=model.device, dtype=model.dtype)
    step = 0
    if checkpoint_path.is_file():
        saved = np.load(checkpoint_path)
        if str(saved["fingerprint"]) != batch_fingerprint:
            raise ValueError(f"{checkpoint_path} belongs to a different MD batch (settings or structures changed); remove it to start afresh")
        state.positions = torch.from_numpy(saved["positions"]).to(model.device)
        output = model(state)
        md_state = MDState.from_state(state, momenta=torch.from_numpy(saved["momenta"]).to(model.device), energy=output["energy"], forces=output["forces"])
        md_state.rng.set_state(torch.from_numpy(saved["rng_state"]))
        step = int(saved["step"])
    else:
        md_state = nvt_langevin_init(state, model, kT=kT)
    (fix_com,) = md_state.constraints  # the state's own copy, which holds the fixed centres of mass
    if step:
        fix_com.coms = torch.from_numpy(saved["coms"]).to(model.device)
    for segment in segments:
        segment.drop_after(step)

    buffers: list[dict[str, list]] = [{"step": [], "positions": [], "velocities": []} for _ in systems]

    def record_if_frame(completed: int) -> None:
        production = completed - common.n_equilibration_steps
        if production < 0 or production % common.frame_interval_steps:
            return
        positions = md_state.positions.detach().cpu().numpy()
        velocities = md_state.velocities.detach().cpu().numpy() * units.fs  # A per ASE time unit -> A/fs
        for i, buffer in enumerate(buffers):
            buffer["step"].append(completed)
            buffer["positions"].append(positions[bounds[i] : bounds[i + 1]])
            buffer["velocities"].append(velocities[bounds[i] : bounds[i + 1]])

    def checkpoint(completed: int) -> None:
        for segment, buffer in zip(segments, buffers, strict=True):
            segment.write(completed, buffer["step"], buffer["positions"], buffer["velocities"] if common.store_velocities else None)
            for values in buffer.values():
                values.clear()
        temporary = checkpoint_path.with_suffix(".tmp.npz")
        np.savez(
            temporary,
            positions=md_state.positions.detach().cpu().numpy(),
            momenta=md_state.momenta.detach().cpu().numpy(),
            rng_state=md_state.rng.get_state().numpy(),
            coms=fix_com.coms.detach().cpu().numpy(),
            step=completed,
            fingerprint=batch_fingerprint,
        )
        os.replace(temporary, checkpoint_path)  # atomic, as in the ASE engine

    if step == 0:
        record_if_frame(0)
    resumed_from_step = step
    with tqdm(total=common.n_steps, initial=step, disable=not progress, desc=f"MD steps ({len(systems)} systems)", unit="step") as bar:
        for completed in range(step + 1, common.n_steps + 1):
            md_state = nvt_langevin_step(md_state, model, dt=dt, kT=kT, gamma=gamma)
            record_if_frame(completed)
            if completed % common.checkpoint_interval_steps == 0 or completed == common.n_steps:
                checkpoint(completed)
            bar.update()
    for i, (atoms, path) in enumerate(zip(systems, paths, strict=True)):
        if is_trajectory_complete(path, fingerprints[i]):  # written before a kill at the very end
            segments[i].remove()
            continue
        finish_trajectory(path, atoms.get_chemical_symbols(), atoms.cell.array, settings[i], segments[i], {"engine": "torchsim", "resumed_from_step": resumed_from_step, **attrs[i]})
    checkpoint_path.unlink(missing_ok=True)
    return paths


def _remove_leftovers(paths: list[Path], checkpoint_path: Path) -> None:
    for path in paths:
        frames = path.with_name(path.stem + ".frames")
        if frames.is_dir():
            FrameSegments(frames).remove()
    checkpoint_path.unlink(missing_ok=True)
