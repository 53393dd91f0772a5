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
from functools import partial
from pathlib import Path

import numpy as np
from ase import Atoms, units

from na_lattice_flows.errors import InputError
from na_lattice_flows.md.restart import Run, run_restartable
from na_lattice_flows.md.settings import MDSettings


def check_batchable(
    settings: list,
    refusal: str = "structures batched in one torch-sim MD must share every MD setting except temperature_K",
) -> None:
    """A batch shares one time step, step count, friction, seed and frame schedule; only T may differ."""
    shared = [s.model_dump(exclude={"temperature_K"}) for s in settings]
    if any(entry != shared[0] for entry in shared[1:]):
        raise InputError(refusal)


def batch_checkpoint_path(trajectory_paths: list[Path]) -> Path:
    """Deterministic in the batch's trajectories, so that a rerun of the killed job finds it."""
    digest = hashlib.sha256(
        "\n".join(str(p.resolve()) for p in trajectory_paths).encode()
    ).hexdigest()[:12]
    first = trajectory_paths[0]
    return first.with_name(f"{first.stem}.batch-{digest}.checkpoint.npz")


def system_bounds(systems: list[Atoms]) -> np.ndarray:
    """Where each system's atoms start and end in the batch's arrays."""
    return np.cumsum([0] + [len(atoms) for atoms in systems])


def split_frames(bounds: np.ndarray, positions: np.ndarray, velocities: np.ndarray) -> list[dict]:
    """One frame dict per system from the batched positions and velocities (``bounds``: atom
    offsets)."""
    return [
        {
            "positions": positions[bounds[i] : bounds[i + 1]],
            "velocities": velocities[bounds[i] : bounds[i + 1]],
        }
        for i in range(len(bounds) - 1)
    ]


class TorchSimLangevinIntegrator:
    """torch-sim's BAOAB Langevin on a batch, centres of mass fixed; the adapter of ``run_restartable``."""

    def __init__(self, systems: list[Atoms], model, settings: list[MDSettings]):
        import torch
        import torch_sim as ts
        from torch_sim.constraints import FixCom
        from torch_sim.units import MetalUnits

        self.model, self.bounds = model, system_bounds(systems)
        device, dtype = model.device, model.dtype
        self.sim_state = ts.initialize_state(
            [atoms.copy() for atoms in systems], device=device, dtype=dtype
        )
        self.sim_state.rng = settings[0].seed
        self.sim_state.constraints = [FixCom(system_idx=torch.arange(len(systems)))]
        self.kT = (
            torch.tensor([s.temperature_K for s in settings], device=device, dtype=dtype)
            * MetalUnits.temperature
        )
        # torch-sim's metal time unit is ASE's, sqrt(amu A^2 / eV) = 10.18 fs
        self.dt = torch.tensor(settings[0].timestep_fs * units.fs, device=device, dtype=dtype)
        self.gamma = torch.tensor(
            settings[0].friction_per_fs / units.fs, device=device, dtype=dtype
        )
        self.md_state = None

    def start(self) -> None:
        from torch_sim.integrators.nvt import nvt_langevin_init

        self.md_state = nvt_langevin_init(self.sim_state, self.model, kT=self.kT)

    def restore(self, saved) -> None:
        import torch
        from torch_sim.integrators.md import MDState

        device = self.model.device
        self.sim_state.positions = torch.from_numpy(saved["positions"]).to(device)
        output = self.model(self.sim_state)
        momenta = torch.from_numpy(saved["momenta"]).to(device)
        self.md_state = MDState.from_state(
            self.sim_state, momenta=momenta, energy=output["energy"], forces=output["forces"]
        )
        self.md_state.rng.set_state(torch.from_numpy(saved["rng_state"]))
        # the state's own copy, which holds the fixed centres of mass
        (fix_com,) = self.md_state.constraints
        fix_com.coms = torch.from_numpy(saved["coms"]).to(device)

    def state(self) -> dict:
        (fix_com,) = self.md_state.constraints
        return {
            "positions": self.md_state.positions.detach().cpu().numpy(),
            "momenta": self.md_state.momenta.detach().cpu().numpy(),
            "rng_state": self.md_state.rng.get_state().numpy(),
            "coms": fix_com.coms.detach().cpu().numpy(),
        }

    def step(self, completed: int) -> None:
        from torch_sim.integrators.nvt import nvt_langevin_step

        self.md_state = nvt_langevin_step(
            self.md_state, self.model, dt=self.dt, kT=self.kT, gamma=self.gamma
        )

    def frames(self) -> list[dict]:
        # A per ASE time unit -> A/fs
        velocities = self.md_state.velocities.detach().cpu().numpy() * units.fs
        return split_frames(self.bounds, self.md_state.positions.detach().cpu().numpy(), velocities)


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
    if not (len(systems) == len(settings) == len(trajectory_paths)) or not systems:
        raise InputError(
            "give one MD setting and one trajectory path per system (and at least one system)"
        )
    check_batchable(settings)
    paths = [Path(p) for p in trajectory_paths]
    attrs = attrs or [{} for _ in systems]
    fingerprints = [s.fingerprint() for s in settings]
    runs = [
        Run(
            trajectory_path=path,
            settings=s,
            fingerprint=f,
            symbols=atoms.get_chemical_symbols(),
            cell=atoms.cell.array,
            attrs={"engine": "torchsim", **extra},
        )
        for atoms, s, path, f, extra in zip(
            systems, settings, paths, fingerprints, attrs, strict=True
        )
    ]
    identity = json.dumps([fingerprints, [atoms.get_chemical_formula() for atoms in systems]])
    return run_restartable(
        partial(TorchSimLangevinIntegrator, systems, model, settings),
        runs,
        batch_checkpoint_path(paths),
        identity,
        "MD batch (settings or structures changed)",
        progress,
        f"MD steps ({len(systems)} systems)",
    )
