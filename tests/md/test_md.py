"""The restartable Langevin MD engine on an Einstein crystal (exact thermal MSD, no diffusion), a kill -9 in the
middle of a run resumed frame for frame, and the trajectory readers on every supported format."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from ase.calculators.calculator import all_changes
from md_helpers import (
    EinsteinCalculator,
    assert_same_frames,
    kill_once_checkpointed,
    na_cl_lattice,
    random_walk,
)

from na_lattice_flows.md.diffusion import element_diffusion
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.restart import TrajectoryFolderError
from na_lattice_flows.md.settings import MDSettings, md_settings
from na_lattice_flows.md.trajectory import read_trajectory, write_h5_trajectory
from na_lattice_flows.md.transport import analyze_trajectory

BOLTZMANN_EV_PER_K = 8.617333262e-5
TESTS = Path(__file__).parents[1]  # where md_helpers lives


def test_presets_are_the_papers_and_every_number_is_configurable():
    paper = md_settings("paper")
    assert (
        paper.temperature_K,
        paper.timestep_fs,
        paper.n_equilibration_steps,
        paper.n_production_steps,
        paper.frame_interval_steps,
    ) == (800, 1.5, 10_000, 40_000, 4)
    assert paper.n_frames == 10_001
    assert md_settings("paper", temperature_K=600).temperature_K == 600
    with pytest.raises(ValueError, match="unknown MD preset 'long'"):
        md_settings("long")


def test_einstein_crystal_does_not_diffuse_and_has_its_thermal_msd(tmp_path):
    """Springs k on every atom: <(x(t) - x(0))^2> -> 2 k_B T / k per axis once decorrelated, and D below the
    paper's 1e-2 A^2/ps (its zero-intercept fit of a plateau gives ~plateau / (run length), not exactly 0)."""
    atoms = na_cl_lattice(2)
    k, temperature = 2.0, 800.0
    # friction 1/ps: weak enough that the VDOS peak stays at the Einstein frequency (see below)
    settings = MDSettings(
        temperature_K=temperature,
        n_equilibration_steps=2000,
        n_production_steps=20_000,
        friction_per_fs=0.001,
        checkpoint_interval_steps=5000,
        seed=3,
    )
    path = run_langevin_md(
        atoms,
        EinsteinCalculator(atoms.positions, k),
        settings,
        tmp_path / "einstein.h5",
        progress=False,
    )
    trajectory = read_trajectory(path)
    assert trajectory.n_frames == settings.n_frames and trajectory.frame_interval_fs == 6.0
    analysis, curves = analyze_trajectory(trajectory, "Na", use_kinisi=False)
    assert 0 <= analysis.D_avg_A2_per_ps < 1e-2 and not analysis.melted
    plateau = curves["msd_xyz_Na"][len(trajectory.positions) // 2 :].mean(axis=0)
    np.testing.assert_allclose(plateau, 2 * BOLTZMANN_EV_PER_K * temperature / k, rtol=0.25)
    # the VDOS centre is the Einstein frequency sqrt(k/m) / 2 pi = 4.61 THz for Na. Langevin noise adds tails
    # ~ gamma / omega^2 whose first moment grows with the friction: at the preset's 10/ps the centre reads
    # ~7.4 THz here, so compare VDOS centres only between runs with the same friction.
    nu_na = np.sqrt(k / 22.98977 * 1.602176634e-19 / 1.66053907e-27) * 1e10 / (2 * np.pi) / 1e12
    assert nu_na == pytest.approx(4.61, abs=0.01)
    assert analysis.na_vdos_center_thz == pytest.approx(nu_na, rel=0.1)


RESUMABLE_RUN = """
import sys
sys.path.insert(0, {tests!r})
from md_helpers import EinsteinCalculator, na_cl_lattice
from na_lattice_flows.md.settings import MDSettings
from na_lattice_flows.md.langevin import run_langevin_md
atoms = na_cl_lattice(2)
settings = MDSettings.model_validate_json({settings!r})
run_langevin_md(atoms, EinsteinCalculator(atoms.positions), settings, {path!r}, progress=False)
"""


def test_a_killed_run_resumes_and_equals_an_uninterrupted_one_frame_for_frame(tmp_path):
    settings = MDSettings(
        n_equilibration_steps=100, n_production_steps=30_000, checkpoint_interval_steps=500, seed=11
    )
    killed = tmp_path / "killed.h5"
    checkpoint = tmp_path / "killed.checkpoint.npz"
    script = RESUMABLE_RUN.format(
        tests=str(TESTS), settings=settings.model_dump_json(), path=str(killed)
    )
    stopped_at = kill_once_checkpointed(script, checkpoint, 2000)
    assert checkpoint.is_file() and not killed.exists()
    assert 2000 <= stopped_at < settings.n_steps

    atoms = na_cl_lattice(2)
    run_langevin_md(atoms, EinsteinCalculator(atoms.positions), settings, killed, progress=False)
    straight = run_langevin_md(
        atoms,
        EinsteinCalculator(atoms.positions),
        settings,
        tmp_path / "straight.h5",
        progress=False,
    )
    assert_same_frames(killed, straight, settings.n_frames)
    assert not checkpoint.exists() and not (tmp_path / "killed.frames").exists()
    # a rerun of the finished job is a no-op (no calculator needed, no folder left behind)
    assert run_langevin_md(atoms, None, settings, killed, progress=False) == killed


def test_trajectory_formats_read_back_the_same_motion(tmp_path):
    from ase import Atoms
    from ase.io import write
    from monty.serialization import dumpfn
    from pymatgen.core import Lattice, Structure
    from pymatgen.core.trajectory import Trajectory

    walk = random_walk(0.5, n_walkers=6, n_frames=120, frame_fs=10.0, n_static=2, box=6.0)
    frames = [Atoms(walk.species, positions=p, cell=walk.cell, pbc=True) for p in walk.positions]
    for atoms in frames:
        atoms.wrap()  # what most codes write
    write(tmp_path / "run.traj", frames)
    write(tmp_path / "run.extxyz", frames)
    write(tmp_path / "XDATCAR", frames, format="vasp-xdatcar")
    structures = [
        Structure(Lattice(walk.cell), walk.species, p, coords_are_cartesian=True)
        for p in walk.positions
    ]
    dumpfn(Trajectory.from_structures(structures, time_step=10.0), tmp_path / "run_traj.json")
    write_h5_trajectory(
        tmp_path / "run.h5",
        walk.species,
        walk.cell,
        {"timestep_fs": 2.5, "frame_interval_steps": 4, "temperature_K": 800.0},
        np.arange(120) * 4,
        walk.positions,
        None,
    )
    expected, _ = element_diffusion(walk, "Na")
    for name, kwargs in [
        ("run.traj", {"timestep_fs": 10}),
        ("run.extxyz", {"timestep_fs": 5, "stride": 2}),
        ("XDATCAR", {"timestep_fs": 10}),
        ("run_traj.json", {}),
        ("run.h5", {}),
    ]:
        trajectory = read_trajectory(tmp_path / name, **kwargs)
        assert trajectory.frame_interval_fs == 10.0, name
        # wrapping moves the start by whole cells
        shift = trajectory.positions[0] - walk.positions[0]
        np.testing.assert_allclose(
            trajectory.positions - shift, walk.positions, atol=1e-4, err_msg=name
        )
        assert element_diffusion(trajectory, "Na")[0].D_avg_A2_per_ps == pytest.approx(
            expected.D_avg_A2_per_ps, rel=1e-4
        ), name
    with pytest.raises(ValueError, match="does not record the MD time step"):
        read_trajectory(tmp_path / "XDATCAR")
    with pytest.raises(ValueError, match="unknown trajectory format"):
        read_trajectory(Path(__file__))


@pytest.mark.shared_data
def test_vasprun_md_is_read_with_its_time_step(vasp_reference):
    path = vasp_reference / "si_md" / "outputs" / "vasprun.xml.gz"
    trajectory = read_trajectory(path)
    assert trajectory.n_frames == 3 and trajectory.frame_interval_fs > 0
    assert set(trajectory.species) == {"Si"}


class FolderPulledAway(EinsteinCalculator):
    """The Einstein crystal, whose trajectory folder is moved away (a lost mount) or turns read-only (every write
    refused with EROFS, as a remount read-only does; a file mode would not stop root) after ``after`` force calls."""

    def __init__(self, sites, folder: Path, after: int, how: str, monkeypatch):
        super().__init__(sites)
        self.folder, self.after, self.how, self.calls, self.monkeypatch = (
            folder,
            after,
            how,
            0,
            monkeypatch,
        )

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls == self.after:
            if self.how == "vanish":
                self.folder.rename(self.folder.with_name("away"))
            else:

                def refused(*args, **kwargs):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS))

                self.monkeypatch.setattr(np, "savez", refused)


@pytest.mark.parametrize("how", ["vanish", "read-only"])
def test_a_trajectory_folder_lost_mid_run_is_named_and_the_run_resumes_when_it_is_back(
    tmp_path, how, monkeypatch
):
    settings = MDSettings(
        n_equilibration_steps=20,
        n_production_steps=180,
        frame_interval_steps=4,
        checkpoint_interval_steps=40,
        seed=3,
    )
    folder = tmp_path / "trajectories"
    folder.mkdir()
    atoms = na_cl_lattice(2)
    pulled = FolderPulledAway(atoms.positions, folder, after=100, how=how, monkeypatch=monkeypatch)
    state = "is gone" if how == "vanish" else "cannot be written"
    with pytest.raises(
        TrajectoryFolderError,
        match=rf"MD trajectory folder .*trajectories {state} at step 120 .*resumes from its last checkpoint",
    ):
        run_langevin_md(atoms, pulled, settings, folder / "run.h5", progress=False)
    if how == "vanish":
        (tmp_path / "away").rename(folder)  # the mount is back
    else:
        monkeypatch.undo()  # writable again
    resumed = run_langevin_md(
        atoms, EinsteinCalculator(atoms.positions), settings, folder / "run.h5", progress=False
    )
    straight = run_langevin_md(
        atoms,
        EinsteinCalculator(atoms.positions),
        settings,
        tmp_path / "straight.h5",
        progress=False,
    )
    assert_same_frames(resumed, straight, settings.n_frames)
    with h5py.File(resumed) as handle:
        assert handle.attrs["resumed_from_step"] == 80  # the last checkpoint before the folder went
