"""The torch-sim batched NPT engine (C-rescale, fully flexible cell) on Lennard-Jones argon: at 1 K the
batch's mean volume is the 0 K minimum of the model's own E(V) (fitted by ASE's equation of state), at 30 K
larger (thermal expansion); given start velocities are used; a killed batch resumes and equals an
uninterrupted one frame for frame, cells included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.eos import EquationOfState
from md_helpers import argon, kill_once_checkpointed, lj_model

from na_lattice_flows.md.batched import batch_checkpoint_path
from na_lattice_flows.md.batched_npt import run_torchsim_npt_md
from na_lattice_flows.md.npt import NPTSettings
from na_lattice_flows.md.trajectory import read_trajectory

TESTS = Path(__file__).parents[1]


def model_eos_volume_per_atom() -> float:
    """The 0 K minimum of the same model's E(V), by ASE's Birch-Murnaghan fit: independent of any integrator."""
    import torch_sim as ts

    model = lj_model()
    volumes, energies = [], []
    for scale in np.linspace(0.97, 1.03, 9):
        atoms = argon(5.26 * scale)
        state = ts.initialize_state(atoms, device=model.device, dtype=model.dtype)
        volumes.append(atoms.get_volume() / len(atoms))
        energies.append(float(model(state)["energy"][0]) / len(atoms))
    v0, _, _ = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return v0


def test_batched_npt_volumes_bracket_the_eos_minimum_with_thermal_expansion(tmp_path):
    v0 = model_eos_volume_per_atom()
    settings = [
        NPTSettings(
            temperature_K=t,
            timestep_fs=5,
            thermostat_time_fs=100,
            barostat_time_fs=500,
            n_equilibration_steps=300,
            n_production_steps=600,
            frame_interval_steps=10,
            compressibility_per_GPa=0.3,
        )
        for t in (1.0, 30.0)
    ]
    start = argon(5.36)  # 3.4 % above the minimum's volume: the barostat must shrink it
    paths = run_torchsim_npt_md(
        [start, start],
        lj_model(),
        settings,
        [tmp_path / "cold.h5", tmp_path / "warm.h5"],
        progress=False,
    )
    volumes = [np.abs(np.linalg.det(read_trajectory(p).cell)).mean() / 108 for p in paths]
    # 1 K: the minimum plus the classical thermal expansion gamma * 3 k_B T / (B V0) ~ 0.1 % (LJ argon: B ~ 3 GPa, gamma ~ 2.6)
    assert volumes[0] == pytest.approx(v0, rel=3e-3)
    assert volumes[1] > volumes[0] * 1.01  # 30 K: soft LJ argon expands by a few per cent
    cells = read_trajectory(paths[0]).cell
    assert cells.shape == (61, 3, 3) and np.ptp(cells[:, 0, 0]) > 0  # the cell moves


def test_given_velocities_start_the_run(tmp_path):
    atoms = argon()
    velocities = np.random.default_rng(1).normal(0, 0.002, size=(len(atoms), 3))
    settings = NPTSettings(
        temperature_K=20,
        timestep_fs=5,
        n_equilibration_steps=0,
        n_production_steps=20,
        frame_interval_steps=10,
    )
    [path] = run_torchsim_npt_md(
        [atoms], lj_model(), [settings], [tmp_path / "given.h5"], [velocities], progress=False
    )
    np.testing.assert_allclose(read_trajectory(path).velocities[0], velocities, atol=1e-6)
    with pytest.raises(ValueError, match="share every setting"):
        run_torchsim_npt_md(
            [atoms, atoms],
            lj_model(),
            [settings, settings.model_copy(update={"timestep_fs": 2.0})],
            [tmp_path / "a.h5", tmp_path / "b.h5"],
        )


RESUMABLE_BATCH = """
import sys; sys.path.insert(0, {tests!r})
from md_helpers import argon, lj_model
from na_lattice_flows.md.batched_npt import run_torchsim_npt_md
from na_lattice_flows.md.npt import NPTSettings
settings = [NPTSettings.model_validate_json(s) for s in {settings!r}]
run_torchsim_npt_md([argon(), argon(5.35)], lj_model(), settings, {paths!r}, progress=False)
"""


@pytest.mark.slow  # 30 s; the default run has the ASE NPT engine's kill-and-resume test (tests/md/test_npt.py)
def test_a_killed_batch_resumes_and_equals_an_uninterrupted_one(tmp_path):
    import h5py

    settings = [
        NPTSettings(
            temperature_K=t,
            timestep_fs=5,
            thermostat_time_fs=100,
            barostat_time_fs=500,
            n_equilibration_steps=50,
            n_production_steps=1200,
            frame_interval_steps=10,
            checkpoint_interval_steps=50,
            seed=3,
        )
        for t in (20.0, 30.0)
    ]
    killed = [str(tmp_path / "k1.h5"), str(tmp_path / "k2.h5")]
    script = RESUMABLE_BATCH.format(
        tests=str(TESTS), settings=[s.model_dump_json() for s in settings], paths=killed
    )
    stopped_at = kill_once_checkpointed(
        script, batch_checkpoint_path([Path(p) for p in killed]), 200
    )
    assert 200 <= stopped_at < 1250
    run_torchsim_npt_md([argon(), argon(5.35)], lj_model(), settings, killed, progress=False)
    straight = run_torchsim_npt_md(
        [argon(), argon(5.35)],
        lj_model(),
        settings,
        [tmp_path / "s1.h5", tmp_path / "s2.h5"],
        progress=False,
    )
    for resumed, reference in zip(killed, straight, strict=True):
        with h5py.File(resumed) as a, h5py.File(reference) as b:
            assert a.attrs["resumed_from_step"] == stopped_at
            for name in ("step", "positions", "velocities", "cells"):
                np.testing.assert_array_equal(a[name][:], b[name][:])
