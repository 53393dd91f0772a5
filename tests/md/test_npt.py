"""The NPT engine (ASE's MTK integrator, fully flexible cell) against an independent equation of state: EMT Cu,
whose E(V) ASE fits; the average pressure equals the target within its error; an anisotropic strain relaxes;
a killed run resumes and equals an uninterrupted one frame for frame, cell included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState
from md_helpers import EinsteinCalculator, kill_once_checkpointed, na_cl_lattice

from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.npt import EV_PER_A3_PER_GPA, NPTSettings, run_npt_md
from na_lattice_flows.md.settings import MDSettings
from na_lattice_flows.md.trajectory import read_trajectory

BOLTZMANN_EV_PER_K = 8.617333262e-5
TESTS = Path(__file__).parents[1]


def emt_copper_eos() -> tuple[float, float]:
    """ASE's Birch-Murnaghan fit of EMT Cu at 0 K: the volume per atom (A^3) at zero pressure and B (GPa)."""
    volumes, energies = [], []
    for scale in np.linspace(0.97, 1.03, 9):
        atoms = bulk("Cu", cubic=True, a=3.6 * scale)
        atoms.calc = EMT()
        volumes.append(atoms.get_volume() / 4)
        energies.append(atoms.get_potential_energy() / 4)
    v0, _, bulk_modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit()
    return v0, bulk_modulus / EV_PER_A3_PER_GPA


def frame_pressures_GPa(path: Path) -> np.ndarray:
    """Instantaneous pressure of every frame (virial and kinetic), recomputed with EMT: independent of the engine."""
    trajectory = read_trajectory(path)
    pressures = []
    for positions, velocities, cell in zip(
        trajectory.positions, trajectory.velocities, trajectory.cell, strict=True
    ):
        atoms = Atoms(trajectory.species, positions=positions, cell=cell, pbc=True)
        atoms.set_velocities(velocities / units.fs)
        atoms.calc = EMT()
        pressures.append(
            -np.trace(atoms.get_stress(voigt=False, include_ideal_gas=True)) / 3 / EV_PER_A3_PER_GPA
        )
    return np.array(pressures)


def block_error(values: np.ndarray, n_blocks: int = 8) -> float:
    """Standard error of the mean of a correlated series from block averages."""
    blocks = np.array([block.mean() for block in np.array_split(values, n_blocks)])
    return float(blocks.std(ddof=1) / np.sqrt(n_blocks))


def test_npt_volume_is_the_eos_minimum_and_pressure_the_target(tmp_path):
    """At 50 K and 0 GPa the mean volume is the EOS minimum plus the classical thermal expansion
    dV/V = gamma * 3 k_B T / (B V0) (Grueneisen gamma of Cu = 2.0: +0.27 % at 50 K), within 0.15 %."""
    v0, bulk_modulus_GPa = emt_copper_eos()
    # starts 1.7 % too large: the barostat must shrink it
    atoms = bulk("Cu", cubic=True, a=3.66).repeat((2, 2, 2))
    settings = NPTSettings(
        temperature_K=50,
        thermostat_time_fs=50,
        barostat_time_fs=300,
        n_equilibration_steps=400,
        n_production_steps=1600,
        frame_interval_steps=10,
        seed=2,
    )
    path = run_npt_md(atoms, EMT(), settings, tmp_path / "cu.h5", progress=False)
    trajectory = read_trajectory(path)
    assert trajectory.cell.shape == (settings.n_production_steps // 10 + 1, 3, 3)
    volumes = np.abs(np.linalg.det(trajectory.cell)) / len(atoms)
    expansion = 2.0 * 3 * BOLTZMANN_EV_PER_K * 50 / (bulk_modulus_GPa * EV_PER_A3_PER_GPA * v0)
    assert volumes.mean() / v0 - 1 == pytest.approx(expansion, abs=1.5e-3)
    pressures = frame_pressures_GPa(path)
    error = block_error(pressures)
    assert abs(pressures.mean() - settings.pressure_GPa) < 3 * error + 0.02, (
        pressures.mean(),
        error,
    )
    assert pressures.std() > 0.05  # the cell fluctuates: a frozen cell would not test the barostat


def test_an_anisotropic_strain_relaxes_to_the_cubic_cell(tmp_path):
    """Cu stretched 4 % along c (an anisotropic stress) becomes cubic again under the flexible-cell barostat."""
    atoms = bulk("Cu", cubic=True, a=3.59).repeat((2, 2, 2))
    atoms.set_cell(atoms.cell.array @ np.diag([1.0, 1.0, 1.04]), scale_atoms=True)
    settings = NPTSettings(
        temperature_K=30,
        thermostat_time_fs=50,
        barostat_time_fs=200,
        n_equilibration_steps=600,
        n_production_steps=400,
        frame_interval_steps=10,
    )
    trajectory = read_trajectory(
        run_npt_md(atoms, EMT(), settings, tmp_path / "strained.h5", progress=False)
    )
    lengths = np.linalg.norm(trajectory.cell, axis=2).mean(axis=0)
    assert lengths[2] / lengths[:2].mean() == pytest.approx(1.0, abs=4e-3)
    start = np.linalg.norm(atoms.cell.array, axis=1)
    assert start[2] / start[:2].mean() == pytest.approx(1.04)


RESUMABLE_NPT = """
import sys; sys.path.insert(0, {tests!r})
from ase.build import bulk
from ase.calculators.emt import EMT
from na_lattice_flows.md.npt import NPTSettings, run_npt_md
atoms = bulk("Cu", cubic=True, a=3.6).repeat((2, 2, 2))
run_npt_md(atoms, EMT(), NPTSettings.model_validate_json({settings!r}), {path!r}, progress=False)
"""


@pytest.mark.slow  # 23 s; the shared checkpoint/segment machinery is killed and resumed by default in tests/md/test_md.py
def test_a_killed_npt_run_resumes_and_equals_an_uninterrupted_one(tmp_path):
    import h5py

    settings = NPTSettings(
        temperature_K=300,
        thermostat_time_fs=50,
        barostat_time_fs=200,
        n_equilibration_steps=100,
        n_production_steps=1100,
        frame_interval_steps=5,
        checkpoint_interval_steps=100,
        seed=4,
    )
    killed, checkpoint = tmp_path / "killed.h5", tmp_path / "killed.checkpoint.npz"
    stopped_at = kill_once_checkpointed(
        RESUMABLE_NPT.format(
            tests=str(TESTS), settings=settings.model_dump_json(), path=str(killed)
        ),
        checkpoint,
        200,
    )
    assert 200 <= stopped_at < settings.n_steps and not killed.exists()
    atoms = bulk("Cu", cubic=True, a=3.6).repeat((2, 2, 2))
    run_npt_md(atoms, EMT(), settings, killed, progress=False)
    straight = run_npt_md(atoms, EMT(), settings, tmp_path / "straight.h5", progress=False)
    with h5py.File(killed) as a, h5py.File(straight) as b:
        assert a.attrs["resumed_from_step"] == stopped_at and b.attrs["resumed_from_step"] == 0
        assert len(np.unique(a["step"][:])) == settings.n_production_steps // 5 + 1
        for name in ("step", "positions", "velocities", "cells"):
            np.testing.assert_array_equal(a[name][:], b[name][:])
    assert not checkpoint.exists() and not (tmp_path / "killed.frames").exists()


def test_a_run_continued_from_given_velocities_is_a_different_run(tmp_path):
    """Fine-grid runs start from another run's last frame: the start enters the fingerprint, and the velocities
    given are the ones used (the first frame carries them)."""
    atoms = bulk("Cu", cubic=True, a=3.6).repeat((2, 2, 2))
    velocities = np.random.default_rng(0).normal(0, 0.003, size=(len(atoms), 3))
    velocities -= velocities.mean(axis=0)
    settings = NPTSettings(
        temperature_K=100, n_equilibration_steps=0, n_production_steps=20, frame_interval_steps=10
    )
    path = run_npt_md(
        atoms,
        EMT(),
        settings,
        tmp_path / "continued.h5",
        velocities_A_per_fs=velocities,
        progress=False,
    )
    np.testing.assert_allclose(read_trajectory(path).velocities[0], velocities, atol=1e-6)
    with pytest.raises(ValueError, match="different NPT run"):
        checkpoint = tmp_path / "other.checkpoint.npz"
        np.savez(checkpoint, positions=atoms.positions, fingerprint="elsewhere")
        run_npt_md(atoms, EMT(), settings, tmp_path / "other.h5", progress=False)


def test_nve_production_conserves_energy_after_a_langevin_equilibration(tmp_path):
    atoms = na_cl_lattice(2)
    settings = MDSettings(
        temperature_K=300,
        timestep_fs=1.0,
        n_equilibration_steps=200,
        n_production_steps=2000,
        frame_interval_steps=10,
        production_ensemble="nve",
    )
    calculator = EinsteinCalculator(atoms.positions)
    trajectory = read_trajectory(
        run_langevin_md(atoms, calculator, settings, tmp_path / "nve.h5", progress=False)
    )
    kinetic_eV = 0.5 * (
        atoms.get_masses()[None, :] * ((trajectory.velocities / units.fs) ** 2).sum(axis=2)
    ).sum(axis=1)
    potential_eV = (
        0.5 * calculator.k * ((trajectory.positions - atoms.positions) ** 2).sum(axis=(1, 2))
    )
    total = kinetic_eV + potential_eV
    # NVE: conserved to the integrator's error (float32 frames)
    assert np.ptp(total) < 2e-3 * total.mean()
    # while energy flows between kinetic and potential
    assert np.ptp(kinetic_eV) > 0.1 * kinetic_eV.mean()


def test_the_default_ensemble_keeps_the_fingerprints_of_release_0_2():
    """Trajectories of running campaigns are found by this hash: the new field must not change it."""
    assert MDSettings().fingerprint() == "426dc97c1b1d8680"
    assert MDSettings(production_ensemble="nve").fingerprint() != "426dc97c1b1d8680"
