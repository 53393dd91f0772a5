"""Faults on the production path: a worker killed in the middle of an MD job, detected as a lost run, rerun, and
the MD resumed from its checkpoint to the same trajectory as an uninterrupted run."""

from __future__ import annotations

import datetime

import h5py
import pytest
from md_helpers import assert_same_frames, kill_once_checkpointed
from pymatgen.core import Lattice, Structure

from na_lattice_flows.execution.launching import fw_state_counts, recover_lost_runs, run_ready_jobs
from na_lattice_flows.execution.store_config import StoreSettings, resolve_settings
from na_lattice_flows.execution.stores import Session, open_session
from na_lattice_flows.execution.submission import add_flow
from na_lattice_flows.md.jobs import MLPMDMaker, trajectory_file
from na_lattice_flows.md.settings import md_settings

SITES = [
    [0, 0, 0],
    [0.5, 0.5, 0.5],
    [0.5, 0.5, 0],
    [0, 0, 0.5],
    [0.5, 0, 0.5],
    [0, 0.5, 0],
    [0, 0.5, 0.5],
    [0.5, 0, 0],
]
OVERRIDES = {
    "n_equilibration_steps": 0,
    "n_production_steps": 400,
    "frame_interval_steps": 4,
    "checkpoint_interval_steps": 40,
}


def md_maker(trajectory_dir) -> MLPMDMaker:
    return MLPMDMaker(
        model="chgnet",
        preset="short",
        overrides=OVERRIDES,
        trajectory_dir=str(trajectory_dir),
        min_supercell_atoms=8,
        use_kinisi=False,
    )


def nacl() -> Structure:
    return Structure(Lattice.cubic(5.69), ["Na", "Cl"] * 4, SITES)


@pytest.mark.slow  # 30 s; the default run covers its parts: MD kill-and-resume (tests/md), lost-run rerun (test_concurrent_workers)
def test_a_worker_killed_mid_md_is_detected_rerun_and_the_md_resumes(embedded_settings, tmp_path):
    maker = md_maker(tmp_path / "trajectories")
    with open_session(embedded_settings) as session:
        add_flow(session, maker.make(nacl(), "nacl"), "md nacl")
    trajectory = trajectory_file(
        maker.trajectory_dir, "nacl", md_settings("short", **OVERRIDES), "chgnet"
    )
    checkpoint = trajectory.with_name(trajectory.stem + ".checkpoint.npz")

    # a worker (`na-flows run`, its own process) is killed with SIGKILL once the MD has checkpointed step 120
    worker = f"from na_lattice_flows.cli import main; main(['run', '--workdir', {str(embedded_settings.workdir)!r}])"
    stopped_at = kill_once_checkpointed(worker, checkpoint, 120)
    assert 120 <= stopped_at < 400 and not trajectory.exists()

    with open_session(embedded_settings) as session:
        assert fw_state_counts(session) == {
            "RUNNING": 1,
            "WAITING": 1,
        }  # the checkout was recorded before the job ran
        [lost] = recover_lost_runs(session)
        assert lost.name == "mlp md nacl 800K" and lost.launch_dir.startswith(
            str(embedded_settings.runs_dir)
        )
        assert fw_state_counts(session) == {"READY": 1, "WAITING": 1}
        assert run_ready_jobs(session, progress=False) == 2
        assert fw_state_counts(session) == {"COMPLETED": 2}
    with h5py.File(trajectory) as handle:
        assert handle.attrs["resumed_from_step"] == stopped_at

    # the same job never interrupted, in another store: the same frames, bit for bit
    straight_settings = resolve_settings(workdir=tmp_path / "straight")
    straight_maker = md_maker(tmp_path / "straight_trajectories")
    with open_session(straight_settings) as session:
        add_flow(session, straight_maker.make(nacl(), "nacl"), "md nacl")
        run_ready_jobs(session, progress=False)
    straight = trajectory_file(
        straight_maker.trajectory_dir, "nacl", md_settings("short", **OVERRIDES), "chgnet"
    )
    assert_same_frames(trajectory, straight, md_settings("short", **OVERRIDES).n_frames)


@pytest.mark.slow  # 15 s; a dead worker's job taken back by default in test_concurrent_workers
def test_na_flows_run_reruns_what_a_dead_worker_left_running(embedded_settings, tmp_path):
    """The embedded store holds one process at a time, so a RUNNING job found by `run` is lost for sure."""
    with open_session(embedded_settings) as session:
        add_flow(session, md_maker(tmp_path / "t").make(nacl(), "nacl"), "md nacl")
        # a worker took the MD job, then died
        session.launchpad.checkout_fw(_worker(), str(tmp_path))
        assert fw_state_counts(session)["RUNNING"] == 1
    with open_session(embedded_settings) as session:
        assert run_ready_jobs(session, progress=False) == 2
        assert fw_state_counts(session) == {"COMPLETED": 2}


def test_on_mongodb_only_runs_silent_past_the_expiration_are_lost(embedded_settings, tmp_path):
    """The MongoDB path (FireWorks' detect_lostruns) on the same LaunchPad API: a run pinged recently is alive."""
    with open_session(embedded_settings) as session:
        add_flow(session, md_maker(tmp_path / "t").make(nacl(), "nacl"), "md nacl")
        session.launchpad.checkout_fw(_worker(), str(tmp_path))
        as_mongodb = Session(
            StoreSettings(mode="mongodb", workdir=tmp_path, mongodb_uri="mongodb://unused"),
            session.launchpad,
            session.job_store,
        )
        assert recover_lost_runs(as_mongodb, expiration_secs=3600) == []
        two_hours_ago = (
            datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
        ).isoformat()
        launch = session.launchpad.launches.find_one({"state": "RUNNING"})
        history = [{**entry, "updated_on": two_hours_ago} for entry in launch["state_history"]]
        session.launchpad.launches.update_one(
            {"_id": launch["_id"]}, {"$set": {"state_history": history}}
        )
        [lost] = recover_lost_runs(as_mongodb, expiration_secs=3600)
        assert lost.name == "mlp md nacl 800K" and fw_state_counts(session)["READY"] == 1


def _worker():
    from fireworks import FWorker

    return FWorker(name="dead-worker")


def test_a_full_disk_stops_the_worker_with_a_named_error_and_the_next_worker_finishes_the_job(
    embedded_settings, tmp_path, monkeypatch
):
    """The job's output cannot be stored: the worker stops with StoreFullError (the CLI's exit 5), nothing half
    written; with space again, the next worker takes the job its predecessor left RUNNING and completes it."""
    import sqlite3

    import pytest
    from jobflow import Flow
    from worker_jobs import fill_the_disk_once

    from na_lattice_flows.execution import sqlite_documents
    from na_lattice_flows.execution.sqlite_documents import StoreFullError

    monkeypatch.setattr(
        sqlite_documents.SQLiteDocumentClient,
        "_connection",
        sqlite_documents.SQLiteDocumentClient._connection,
    )
    with open_session(embedded_settings) as session:
        add_flow(session, Flow([fill_the_disk_once(str(tmp_path))]), "full disk")
        with pytest.raises(StoreFullError, match=r"(launchpad|jobstore)\.sqlite: no space left"):
            run_ready_jobs(session, progress=False)
    monkeypatch.undo()  # space again: connections without the page limit
    for name in ("launchpad.sqlite", "jobstore.sqlite"):
        with sqlite3.connect(embedded_settings.workdir / name) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with open_session(embedded_settings) as session:
        assert fw_state_counts(session) == {"RUNNING": 1}  # left by the stopped worker, not lost
        # the next worker takes it back at once and finishes it
        assert run_ready_jobs(session, progress=False) == 1
        assert fw_state_counts(session) == {"COMPLETED": 1}
