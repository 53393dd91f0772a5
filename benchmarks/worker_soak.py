"""A long-lived worker on the embedded store: one `na-flows run` process takes every job of --workflows
workflows (two no-op jobs each: jobflow's ``store_inputs``, so the cost is dispatch + store alone) while this
process polls `status` and `results` (in-process, as a second user would) the whole time. Prints the worker's RSS
every 200 jobs, the jobs per second, and the dispatch latency (the gap from one job's end to the next one's
start, from the launches' own timestamps) over the first and the last 200 jobs.

    .venv/bin/python benchmarks/worker_soak.py [--workflows 1000] [--workdir DIR]

Goal (issue 29): RSS flat (growth < 50 MB from job 200 to job 2,000), latency flat.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from jobflow import Flow
from jobflow.core.job import store_inputs

from na_lattice_flows.execution.launching import fw_state_counts
from na_lattice_flows.execution.results import results_table
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow

REPORT_EVERY = 200


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
    except (FileNotFoundError, StopIteration):
        return None


def _time(value) -> datetime.datetime:
    return value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(value)


def latencies_s(session) -> tuple[list[float], list[float]]:
    """(gap before each job's start since the previous job's end, each job's duration), in launch order."""
    launches = sorted(
        session.launchpad.launches.find({"state": "COMPLETED"}, {"time_start": 1, "time_end": 1}),
        key=lambda launch: launch["time_start"],
    )
    starts = [_time(launch["time_start"]) for launch in launches]
    ends = [_time(launch["time_end"]) for launch in launches]
    gaps = [(start - end).total_seconds() for start, end in zip(starts[1:], ends[:-1], strict=True)]
    return gaps, [(end - start).total_seconds() for start, end in zip(starts, ends, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, help="default: a fresh temporary folder")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="na_flows_soak_"))
    settings = resolve_settings(workdir=workdir)
    with open_session(settings) as session:
        start = time.perf_counter()
        for index in range(args.workflows):
            first = store_inputs({"index": index})
            add_flow(session, Flow([first, store_inputs(first.output)]), f"soak {index}")
        print(
            f"{args.workflows} workflows ({2 * args.workflows} jobs) submitted in {time.perf_counter() - start:.0f} s to {workdir}"
        )
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "na-flows"), "run", "--workdir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment,
    )
    began, next_report, polls, samples = time.perf_counter(), REPORT_EVERY, 0, []
    print(f"{'jobs':>6} {'worker RSS MB':>14} {'jobs/s':>8} {'status+results polls':>21}")
    with open_session(settings, read_only=True) as reader:
        while worker.poll() is None:
            completed = fw_state_counts(reader).get("COMPLETED", 0)
            results_table(reader)  # what `na-flows results` reads; status reads the states above
            polls += 1
            if completed >= next_report:
                rss = rss_mb(worker.pid)
                samples.append((completed, rss))
                print(
                    f"{completed:>6} {rss:>14.0f} {completed / (time.perf_counter() - began):>8.1f} {polls:>21}",
                    flush=True,
                )
                next_report += REPORT_EVERY
            time.sleep(0.5)
        elapsed = time.perf_counter() - began
        completed = fw_state_counts(reader).get("COMPLETED", 0)
        gaps, durations = latencies_s(reader)
    print(
        f"worker exited ({worker.returncode}) after {completed} jobs in {elapsed:.0f} s: {completed / elapsed:.1f} jobs/s"
    )
    if len(samples) >= 2:
        print(
            f"RSS from job {samples[0][0]} to job {samples[-1][0]}: {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB "
            f"({samples[-1][1] - samples[0][1]:+.0f} MB)"
        )
    head, tail = slice(0, REPORT_EVERY), slice(-REPORT_EVERY, None)
    print(
        f"dispatch latency (previous job's end to next job's start), median: first {REPORT_EVERY} jobs "
        f"{1e3 * np.median(gaps[head]):.0f} ms, last {REPORT_EVERY} {1e3 * np.median(gaps[tail]):.0f} ms; job duration "
        f"median first {1e3 * np.median(durations[head]):.0f} ms, last {1e3 * np.median(durations[tail]):.0f} ms"
    )
    print(f"finished {datetime.datetime.now():%Y-%m-%d %H:%M}")


if __name__ == "__main__":
    main()
