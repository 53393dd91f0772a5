"""The fine grid as one torch-sim batch (``fine_grid_engine='torchsim'``, what a GPU worker runs): every fine
temperature from both endpoints' last frames (positions, velocities, cell) in one batch, one document per run,
the same assignment as the ASE path. Lennard-Jones argon stands in for an MLP (the registry's torch-sim models
are too slow for a unit test on CPU)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from md_helpers import argon, lj_model

from na_lattice_flows.doping import jobs
from na_lattice_flows.doping.phases import PhaseCall
from na_lattice_flows.doping.presets import doping_settings
from na_lattice_flows.doping.schemas import NPTDocument
from na_lattice_flows.md.trajectory import write_h5_trajectory


def endpoint(
    tmp_path: Path, name: str, temperature_K: float, phase: str, settings, seed: int
) -> NPTDocument:
    """A finished coarse point: a short trajectory of argon (3 frames with velocities and cells) and its phase."""
    atoms = argon()
    rng = np.random.default_rng(seed)
    positions = atoms.positions[None] + rng.normal(0, 0.02, size=(3, len(atoms), 3))
    velocities = rng.normal(0, 0.001, size=(3, len(atoms), 3))
    cells = np.broadcast_to(atoms.cell.array, (3, 3, 3))
    path = write_h5_trajectory(
        tmp_path / f"{name}.h5",
        atoms.get_chemical_symbols(),
        cells,
        {"timestep_fs": 5.0, "frame_interval_steps": 10},
        np.arange(3) * 10,
        positions,
        velocities,
    )
    call = PhaseCall(
        phase=phase,
        lattice_A=(5.3, 5.3, 5.3),
        tetragonal_split=0.0,
        windows=[phase],
        reason="given",
    )
    return NPTDocument(
        system="Ar",
        temperature_K=temperature_K,
        model="lj",
        settings=settings.npt,
        n_atoms=len(atoms),
        phase=call,
        mean_cell_A=atoms.cell.array.tolist(),
        volume_per_atom_A3=37.2,
        trajectory_path=str(path),
    )


def test_the_fine_grid_runs_as_one_batch_from_both_endpoints(tmp_path, monkeypatch):
    settings = doping_settings(
        "short",
        supercell=(3, 3, 3),
        fine_step_K=10,
        fine_grid_engine="torchsim",
        npt={
            "timestep_fs": 5,
            "n_equilibration_steps": 0,
            "n_production_steps": 40,
            "frame_interval_steps": 10,
            "compressibility_per_GPa": 0.3,
        },
    )
    coarse = [
        endpoint(tmp_path, "tetragonal", 10, "tetragonal", settings, 0),
        endpoint(tmp_path, "cubic", 30, "cubic", settings, 1),
    ]
    batches = []
    original = jobs.run_torchsim_npt_md

    def recording(systems, *args, **kwargs):
        batches.append(len(systems))
        return original(
            systems, *args, progress=False, **{k: v for k, v in kwargs.items() if k != "progress"}
        )

    monkeypatch.setattr(jobs, "get_torchsim_model", lambda name: lj_model())
    monkeypatch.setattr(jobs, "run_torchsim_npt_md", recording)
    document = jobs.doped_transition.original(
        coarse, "Ar", "7net-0", settings, str(tmp_path / "trajectories"), "study"
    )
    assert batches == [2]  # the grid's one temperature (20 K) from both endpoints, in one batch
    assert [(run.temperature_K, run.start) for run in document.fine_runs] == [
        (20.0, "from-tetragonal"),
        (20.0, "from-cubic"),
    ]
    assert [point.temperature_K for point in document.estimate.fine] == [20.0]
    for run, start in zip(document.fine_runs, coarse, strict=True):
        with h5py.File(run.trajectory_path) as handle:
            assert handle.attrs["engine"] == "torchsim-crescale"
            first = handle["positions"][0]
        with h5py.File(start.trajectory_path) as handle:
            # continued from that endpoint's last frame
            np.testing.assert_allclose(first, handle["positions"][-1], atol=1e-5)
    assert document.estimate.T_C_K is not None and document.estimate.uncertainty_K <= 10
