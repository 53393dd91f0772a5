"""The batched torch-sim MD engine: Einstein crystals at two temperatures in one batch have their exact thermal
MSD; a batch killed with SIGKILL resumes frame for frame; a real MLP (SevenNet) gives the same forces through
torch-sim as through its ASE calculator and runs in the MD Maker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from md_helpers import (
    assert_same_frames,
    einstein_torch_model,
    kill_once_checkpointed,
    na_cl_lattice,
)

from na_lattice_flows.md.batched import batch_checkpoint_path, run_torchsim_langevin_md
from na_lattice_flows.md.settings import MDSettings
from na_lattice_flows.md.trajectory import read_trajectory
from na_lattice_flows.md.transport import analyze_trajectory

BOLTZMANN_EV_PER_K = 8.617333262e-5
TESTS = Path(__file__).parents[1]  # where md_helpers lives


def test_einstein_crystals_batched_at_two_temperatures_have_their_thermal_msd(tmp_path):
    """Same physics as the ASE engine's test: MSD plateau 2 k_B T / k per axis at each system's own T, D below the
    melt threshold, VDOS centre at the Einstein frequency sqrt(k/m) / 2 pi = 4.61 THz for Na."""
    atoms, k = na_cl_lattice(2), 2.0
    temperatures = [400.0, 800.0]
    settings = [
        MDSettings(
            temperature_K=t,
            n_equilibration_steps=2000,
            n_production_steps=20_000,
            friction_per_fs=0.001,
            checkpoint_interval_steps=5000,
            seed=3,
        )
        for t in temperatures
    ]
    model = einstein_torch_model(np.concatenate([atoms.positions, atoms.positions]), k)
    paths = run_torchsim_langevin_md(
        [atoms, atoms],
        model,
        settings,
        [tmp_path / f"{t:g}K.h5" for t in temperatures],
        progress=False,
    )
    for temperature, path in zip(temperatures, paths, strict=True):
        trajectory = read_trajectory(path)
        assert (
            trajectory.n_frames == settings[0].n_frames and trajectory.temperature_K == temperature
        )
        analysis, curves = analyze_trajectory(trajectory, "Na", use_kinisi=False)
        assert 0 <= analysis.D_avg_A2_per_ps < 1e-2 and not analysis.melted
        plateau = curves["msd_xyz_Na"][len(trajectory.positions) // 2 :].mean(axis=0)
        np.testing.assert_allclose(plateau, 2 * BOLTZMANN_EV_PER_K * temperature / k, rtol=0.25)
        assert analysis.na_vdos_center_thz == pytest.approx(4.61, rel=0.1)
        # the centre of mass stays where it was (a free one would random-walk under the thermostat)
        masses = np.where(np.array(trajectory.species) == "Na", 22.98977, 35.453)
        com = (trajectory.positions * masses[None, :, None]).sum(axis=1) / masses.sum()
        # float32 frames
        np.testing.assert_allclose(com, com[0][None].repeat(len(com), axis=0), atol=1e-4)
    assert set(tmp_path.iterdir()) == set(paths)  # no checkpoint or frame folder left beside them


def test_a_batch_shares_every_setting_but_temperature(tmp_path):
    atoms = na_cl_lattice(1)
    settings = [MDSettings(n_production_steps=10), MDSettings(n_production_steps=20)]
    with pytest.raises(ValueError, match="share every MD setting except temperature_K"):
        run_torchsim_langevin_md(
            [atoms, atoms],
            einstein_torch_model(np.zeros((16, 3))),
            settings,
            [tmp_path / "a.h5", tmp_path / "b.h5"],
        )


RESUMABLE_BATCH = """
import sys
sys.path.insert(0, {tests!r})
import numpy as np
from md_helpers import assert_same_frames, einstein_torch_model, kill_once_checkpointed, na_cl_lattice
from na_lattice_flows.md.settings import MDSettings
from na_lattice_flows.md.batched import run_torchsim_langevin_md
atoms = na_cl_lattice(2)
settings = [MDSettings.model_validate_json(s) for s in {settings!r}]
model = einstein_torch_model(np.concatenate([atoms.positions, atoms.positions]))
run_torchsim_langevin_md([atoms, atoms], model, settings, {paths!r}, progress=False)
"""


@pytest.mark.slow  # 22 s; kill-and-resume stays in the default run for the ASE and NPT engines (test_md, test_npt)
def test_a_killed_batch_resumes_and_equals_an_uninterrupted_one_frame_for_frame(tmp_path):
    settings = [
        MDSettings(
            temperature_K=t,
            n_equilibration_steps=100,
            n_production_steps=12_000,
            checkpoint_interval_steps=250,
            seed=5,
        )
        for t in (600.0, 900.0)
    ]
    killed = [tmp_path / "killed_600.h5", tmp_path / "killed_900.h5"]
    checkpoint = batch_checkpoint_path(killed)
    script = RESUMABLE_BATCH.format(
        tests=str(TESTS),
        settings=[s.model_dump_json() for s in settings],
        paths=[str(p) for p in killed],
    )
    stopped_at = kill_once_checkpointed(script, checkpoint, 1000)
    assert 1000 <= stopped_at < settings[0].n_steps and not any(p.exists() for p in killed)

    atoms = na_cl_lattice(2)
    model = einstein_torch_model(np.concatenate([atoms.positions, atoms.positions]))
    run_torchsim_langevin_md([atoms, atoms], model, settings, killed, progress=False)
    straight = run_torchsim_langevin_md(
        [atoms, atoms], model, settings, [tmp_path / "a.h5", tmp_path / "b.h5"], progress=False
    )
    for resumed, reference in zip(killed, straight, strict=True):
        assert_same_frames(resumed, reference, settings[0].n_frames)
    assert not checkpoint.exists() and not any(
        p.with_name(p.stem + ".frames").exists() for p in killed
    )
    # finished: a no-op
    assert (
        run_torchsim_langevin_md([atoms, atoms], None, settings, killed, progress=False) == killed
    )


def test_sevennet_through_torchsim_gives_its_ase_forces():
    """The batched engine's model is the same potential as the ASE engine's: forces on a rattled NaCl cell."""
    import torch_sim as ts

    from na_lattice_flows.models import get_calculator, get_torchsim_model

    atoms = na_cl_lattice(1)
    atoms.rattle(0.05, seed=2)
    model = get_torchsim_model("7net-0", "cpu")
    batched = (
        model(ts.initialize_state([atoms, atoms], device=model.device, dtype=model.dtype))["forces"]
        .detach()
        .numpy()
    )
    atoms.calc = get_calculator("7net-0", "cpu")
    expected = atoms.get_forces()
    assert np.abs(expected).max() > 0.1  # a rattled cell has forces to compare
    np.testing.assert_allclose(batched[: len(atoms)], expected, atol=2e-4)
    np.testing.assert_allclose(batched[len(atoms) :], expected, atol=2e-4)


def test_md_maker_batches_runs_with_torchsim(tmp_path):
    """One structure's temperature series is one batch job; make_many chunks every (structure, T) run by
    batch_size; each structure gets its own transport summary; a model without a torch-sim wrapper is refused."""
    from jobflow import run_locally
    from pymatgen.core import Lattice, Structure

    from na_lattice_flows.md.jobs import MLPMDMaker

    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nabr = Structure(Lattice.cubic(5.97), ["Na", "Br"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    maker = MLPMDMaker(
        model="7net-0",
        preset="short",
        temperatures_K=[600.0, 800.0],
        engine="torchsim",
        batch_size=3,
        overrides={
            "n_equilibration_steps": 10,
            "n_production_steps": 40,
            "checkpoint_interval_steps": 20,
        },
        trajectory_dir=str(tmp_path / "trajectories"),
        min_supercell_atoms=8,
        use_kinisi=False,
    )
    single = maker.make(nacl, "nacl")
    assert sum(job.name.startswith("mlp md batch") for job in single.jobs) == 1
    many = maker.make_many([nacl, nabr], ["nacl", "nabr"])
    batches = [job for job in many.jobs if job.name.startswith("mlp md batch")]
    assert [len(job.function_args[0]) for job in batches] == [3, 1]
    responses = run_locally(
        many, ensure_success=True, create_folders=True, root_dir=tmp_path / "runs"
    )
    summaries = {
        r[1].output.candidate_id: r[1].output
        for r in responses.values()
        if hasattr(r[1].output, "runs") and hasattr(r[1].output, "arrhenius")
    }
    assert set(summaries) == {"nacl", "nabr"}
    for summary in summaries.values():
        assert set(summary.runs) == {"600", "800"} and summary.reference_temperature_K == 800.0
        assert summary.D_avg_A2_per_ps is not None and summary.na_vdos_center_thz > 0
    trajectories = sorted((tmp_path / "trajectories").rglob("*.h5"))
    assert len(trajectories) == 4 and {len(read_trajectory(p).species) for p in trajectories} == {
        16
    }  # near-cubic supercells of >= 8 atoms
    with pytest.raises(ValueError, match="no wrapper for 'chgnet'"):
        MLPMDMaker(model="chgnet", engine="torchsim")
