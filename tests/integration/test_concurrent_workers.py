"""Several `na-flows run` workers, real processes, on one embedded store: every job runs to completion exactly
once, `status` answers while they work, and a worker killed with SIGKILL in the middle of a job loses nothing:
the others take its job back and finish it. Jobs hold until the test releases them, so the test does not depend
on how fast the machine starts the workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jobflow import Flow

from na_lattice_flows.execution.launching import fw_state_counts
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow

TESTS = Path(__file__).resolve().parents[1]
N_JOBS = 12


def start_worker(workdir: Path) -> subprocess.Popen:
    code = f"from na_lattice_flows.cli import main; raise SystemExit(main(['run', '--workdir', {str(workdir)!r}]))"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs_by(markers: Path) -> dict[int, list[int]]:
    return {
        int(path.stem): [int(line) for line in path.read_text().split()]
        for path in markers.glob("*.runs")
    }


def test_workers_share_the_store_and_a_killed_workers_job_is_taken_back(
    embedded_settings, tmp_path
):
    from worker_jobs import RELEASE_FILE, RERUN_RELEASE_FILE, recorded_wait

    markers = tmp_path / "markers"
    markers.mkdir()
    with open_session(embedded_settings) as session:
        for index in range(N_JOBS):
            add_flow(session, Flow([recorded_wait(index, str(markers))]), f"wait {index}")
    workers = [start_worker(embedded_settings.workdir) for _ in range(3)]
    victim = workers[0]
    deadline = time.monotonic() + 240
    while {pid for pids in runs_by(markers).values() for pid in pids} != {
        worker.pid for worker in workers
    }:
        stopped = [
            worker for worker in workers if worker.poll() is not None
        ]  # every worker is inside a job
        assert time.monotonic() < deadline and not stopped, (
            stopped[0].stderr.read() if stopped else "timeout"
        )
        time.sleep(0.05)
    status_command = [
        str(Path(sys.executable).with_name("na-flows")),
        "status",
        "--workdir",
        str(embedded_settings.workdir),
    ]
    status = subprocess.run(
        status_command, check=False, capture_output=True, text=True, timeout=120
    )
    # read while they work
    assert status.returncode == 0 and "RUNNING" in status.stdout, status.stdout + status.stderr
    assert "progress: " in status.stdout and "workers (3):" in status.stdout, status.stdout
    # who runs what
    assert f"-{victim.pid}-" in status.stdout and "'recorded_wait' (fw " in status.stdout, (
        status.stdout
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # the others hold their jobs
    status = subprocess.run(
        status_command, check=False, capture_output=True, text=True, timeout=120
    )
    (line,) = [line for line in status.stdout.splitlines() if f"-{victim.pid}-" in line]
    assert line.endswith(
        "-- worker gone: the next `na-flows run` (or `na-flows recover`) reruns this job"
    ), status.stdout
    assert status.stdout.count("worker gone") == 1
    (markers / RELEASE_FILE).touch()
    # a survivor reruns the killed job, and holds
    while not any(len(pids) > 1 for pids in runs_by(markers).values()):
        assert time.monotonic() < deadline, "the killed job was not rerun"
        time.sleep(0.05)
    status = subprocess.run(
        status_command, check=False, capture_output=True, text=True, timeout=120
    )
    # its old launch is archived
    assert f"-{victim.pid}-" not in status.stdout and "worker gone" not in status.stdout, (
        status.stdout
    )
    (markers / RERUN_RELEASE_FILE).touch()
    for worker in workers[1:]:
        assert worker.wait(timeout=300) == 0, worker.stderr.read()

    with open_session(embedded_settings, read_only=True) as session:
        assert fw_state_counts(session) == {
            "COMPLETED": N_JOBS
        }  # nothing lost, the victim's job included
        session.job_store.connect()
        outputs = list(session.job_store.query({}, properties=["uuid", "output"]))
    # one result per job
    assert sorted(doc["output"]["index"] for doc in outputs) == list(range(N_JOBS))
    runs = runs_by(markers)
    assert sorted(runs) == list(range(N_JOBS))
    (killed_index,) = [
        index for index, pids in runs.items() if len(pids) > 1
    ]  # nothing else ran twice
    # killed once, then finished by another
    assert runs[killed_index][0] == victim.pid and len(runs[killed_index]) == 2
    assert runs[killed_index][1] != victim.pid
    survivors = {pid for pids in runs.values() for pid in pids} - {victim.pid}
    assert len(survivors) == 2  # both other workers did work
