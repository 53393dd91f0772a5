"""Cheap, exactly known systems for the MD and transport tests, and the kill-and-resume harness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from na_lattice_flows.md.trajectory import MDTrajectory


class EinsteinCalculator(Calculator):
    """Every atom tied to its starting site by a spring k (eV/A^2): a harmonic, non-diffusing crystal whose
    thermal MSD is known, <x^2> = k_B T / k per axis."""

    implemented_properties = ("energy", "forces")

    def __init__(self, sites: np.ndarray, k: float = 2.0):
        super().__init__()
        self.sites = np.asarray(sites, dtype=float)
        self.k = k

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u = self.atoms.positions - self.sites
        self.results = {"energy": 0.5 * self.k * float((u**2).sum()), "forces": -self.k * u}


def na_cl_lattice(n: int = 3, a: float = 5.64) -> Atoms:
    """Rock salt n x n x n conventional cells (8 n^3 atoms)."""
    from ase.build import bulk

    return bulk("NaCl", "rocksalt", a=a, cubic=True).repeat((n, n, n))


def random_walk(
    D: float,
    n_walkers: int = 256,
    n_frames: int = 2001,
    frame_fs: float = 6.0,
    n_static: int = 32,
    seed: int = 1,
    box: float = 20.0,
) -> MDTrajectory:
    """Na walkers with Gaussian steps of variance 2 D dt per axis (D in A^2/ps) among static Cl: MSD = 6 D t."""
    rng = np.random.default_rng(seed)
    dt_ps = frame_fs / 1000.0
    steps = rng.normal(0.0, np.sqrt(2 * D * dt_ps), size=(n_frames - 1, n_walkers, 3))
    start = rng.uniform(0, box, size=(n_walkers, 3))
    walkers = np.concatenate([start[None], start[None] + np.cumsum(steps, axis=0)])
    static = np.broadcast_to(rng.uniform(0, box, size=(n_static, 3)), (n_frames, n_static, 3))
    return MDTrajectory(
        species=["Na"] * n_walkers + ["Cl"] * n_static,
        positions=np.concatenate([walkers, static], axis=1),
        cell=np.eye(3) * box,
        frame_interval_fs=frame_fs,
        temperature_K=800.0,
    )


def einstein_torch_model(sites: np.ndarray, k: float = 2.0):
    """``EinsteinCalculator`` as a torch-sim model, for the batched engine: atom i of the batch is tied to
    ``sites[i]`` (the batch's systems concatenated)."""
    import torch
    from torch_sim.models.interface import ModelInterface

    class EinsteinModel(ModelInterface):
        def __init__(self):
            super().__init__()
            self._device, self._dtype = torch.device("cpu"), torch.float64
            self._compute_forces, self._compute_stress = True, False
            self.sites = torch.as_tensor(np.asarray(sites), dtype=torch.float64)

        def forward(self, state, **_):
            u = state.positions - self.sites
            per_atom = 0.5 * k * (u**2).sum(dim=1)
            energy = torch.zeros(state.n_systems, dtype=torch.float64).index_add_(
                0, state.system_idx, per_atom
            )
            return {"energy": energy, "forces": -k * u}

    return EinsteinModel()


def kill_once_checkpointed(script: str, checkpoint: Path, min_step: int) -> int:
    """Run ``script`` in a subprocess, SIGKILL it once ``checkpoint`` records step >= ``min_step``, and return the
    step the checkpoint holds after the kill."""
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if checkpoint.is_file():
            try:
                if int(np.load(checkpoint)["step"]) >= min_step:
                    break
            except (OSError, ValueError, KeyError):  # being replaced this instant
                pass
        time.sleep(0.05)
    assert process.poll() is None, "the MD finished before it could be killed; make it longer"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return int(np.load(checkpoint)["step"])


def assert_same_frames(resumed: Path, reference: Path, n_frames: int) -> None:
    """Two HDF5 trajectories hold the same frames, bit for bit, each step once."""
    import h5py

    with h5py.File(resumed) as a, h5py.File(reference) as b:
        np.testing.assert_array_equal(a["step"][:], b["step"][:])
        assert len(np.unique(a["step"][:])) == n_frames  # none lost, none repeated
        np.testing.assert_array_equal(a["positions"][:], b["positions"][:])
        np.testing.assert_array_equal(a["velocities"][:], b["velocities"][:])


ARGON = {
    "sigma": 3.405,
    "epsilon": 0.0104,
    "cutoff": 2.0 * 3.405,
}  # between the third and fourth fcc shells over the EOS scan


def lj_model():
    """Lennard-Jones argon as a torch-sim model with stress: a cheap, exact labeller for the NPT engines."""
    import torch
    from torch_sim.models.lennard_jones import LennardJonesModel

    return LennardJonesModel(
        **ARGON, device=torch.device("cpu"), dtype=torch.float64, compute_stress=True
    )


def argon(a: float = 5.30):
    return bulk("Ar", "fcc", a=a, cubic=True).repeat((3, 3, 3))
