"""A first real campaign on one machine: a seeded random sample of the candidate pool screened end to end (relax,
phonons, descriptors; MD off) with the CPU default model on the embedded store, by several `na-flows run`
workers at once, as a user would run it from the command line. Along the way it kills one worker with SIGKILL
and starts another in its place (the second run must finish the rest), resubmits the sample (nothing may be
added), and at the end prints:

- wall time per structure, and worker time per structure;
- the bookkeeping share: the dispatch + store cost of a job that does nothing, measured on a copy of the
  campaign's own store, times the number of jobs, over the workers' total time; and the time the workers spent
  outside any launch (checkout, waiting for a dependency);
- the screen's rejections and the failed workflows with their reasons;
- the fraction dynamically stable (the study: 1,363 of 3,903 = 35 % with its model);
- the distributions of the descriptors (count, 5 / 50 / 95 % quantiles).

    .venv/bin/python benchmarks/campaign.py [--n-structures 120] [--seed 2026] [--workers 2] [--workdir DIR]

One worker per core: each worker's torch uses one thread (OMP_NUM_THREADS=1), two workers on two cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from na_lattice_flows.cli.common import EXIT_NOTHING_SUBMITTED
from na_lattice_flows.execution.launching import fw_state_counts
from na_lattice_flows.execution.results import rejections_table, results_table
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.workflow.columns import PHONON_COLUMNS, STRUCTURE_COLUMNS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execution_overhead import dispatch_overhead

DEFAULT_POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)
NA_FLOWS = Path(sys.executable).with_name("na-flows")
UNFINISHED = ("READY", "WAITING", "RUNNING", "RESERVED")


def write_sample(pool: Path, n_structures: int, seed: int, destination: Path) -> list[str]:
    """The seeded random sample of the pool's rows, written as a CSV of the pool's own format; its ids."""
    csv.field_size_limit(10**7)
    with pool.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        fieldnames = reader.fieldnames
    sample = random.Random(seed).sample(rows, n_structures)
    with destination.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(sample)
    return [row[fieldnames[0]] for row in sample]


def na_flows(*arguments: str, expected: tuple[int, ...] = (0,)) -> str:
    """Run the `na-flows` command; its output (another exit status stops the campaign with the command's message)."""
    done = subprocess.run([str(NA_FLOWS), *arguments], capture_output=True, text=True, check=False)
    if done.returncode not in expected:
        raise SystemExit(
            f"na-flows {' '.join(arguments)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def campaign_line(output: str) -> str:
    """The line of `na-flows submit` that counts what it submitted and what it did not."""
    return next(line for line in output.splitlines() if line.startswith("Campaign "))


def start_worker(workdir: Path, log_dir: Path, number: int) -> subprocess.Popen:
    log = (log_dir / f"worker_{number}.log").open("a")  # a resumed campaign adds to the logs
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen(
        [str(NA_FLOWS), "run", "--workdir", str(workdir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def job_counts(settings) -> Counter:
    with open_session(settings, read_only=True) as session:
        return Counter(fw_state_counts(session))


def run_workers(
    settings, n_workers: int, kill_fraction: float, log_dir: Path
) -> tuple[float, float, bool]:
    """Run the workers to the end, killing one when ``kill_fraction`` of the jobs are done and starting another
    in its place; wall seconds, worker seconds, and whether a worker was killed."""
    started = time.monotonic()
    workers = {
        number: (start_worker(settings.workdir, log_dir, number), time.monotonic())
        for number in range(n_workers)
    }
    worker_seconds, killed = 0.0, False
    while workers:
        time.sleep(10)
        counts = job_counts(settings)
        total = sum(counts.values())
        done = counts.get("COMPLETED", 0) + counts.get("FIZZLED", 0) + counts.get("DEFUSED", 0)
        print(
            f"  {time.monotonic() - started:7.0f} s: {done}/{total} jobs done, {dict(counts)}",
            flush=True,
        )
        if not killed and done >= kill_fraction * total and counts.get("RUNNING", 0):
            victim, since = workers.pop(0)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            worker_seconds += time.monotonic() - since
            workers[n_workers] = (
                start_worker(settings.workdir, log_dir, n_workers),
                time.monotonic(),
            )
            killed = True
            print(
                f"  killed worker 0 (pid {victim.pid}) with SIGKILL in the middle of its job; started worker {n_workers}"
            )
        for number, (process, since) in list(workers.items()):
            if process.poll() is not None:
                worker_seconds += time.monotonic() - since
                del workers[number]
                if process.returncode != 0:
                    print(
                        f"  worker {number} exited with {process.returncode}: see {log_dir / f'worker_{number}.log'}"
                    )
    return time.monotonic() - started, worker_seconds, killed


def launch_seconds(settings) -> float:
    """The seconds spent inside launches (each job's run, jobflow's output storing included)."""
    with open_session(settings, read_only=True) as session:
        return sum(
            launch.get("runtime_secs") or 0.0
            for launch in session.launchpad.launches.find({}, {"runtime_secs": 1})
        )


def probe_overhead(workdir: Path, n_jobs: int = 20) -> float:
    """Dispatch + store seconds per no-op job on a copy of the campaign's store (SQLite's online backup), so that
    the campaign's own store is left as the campaign made it."""
    copy = Path(tempfile.mkdtemp(prefix="na_flows_probe_")) / "store"
    copy.mkdir()
    for name in ("launchpad.sqlite", "jobstore.sqlite"):
        with sqlite3.connect(workdir / name) as source, sqlite3.connect(copy / name) as target:
            source.backup(target)
    _, per_job = dispatch_overhead(resolve_settings(workdir=copy), n_jobs)
    return per_job


def distribution(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    rows = []
    for column in columns:
        values = (
            pd.to_numeric(table[column], errors="coerce").dropna()
            if column in table
            else pd.Series(dtype=float)
        )
        if len(values):
            q05, q50, q95 = values.quantile([0.05, 0.5, 0.95])
            rows.append(
                {"descriptor": column, "n": len(values), "q05": q05, "median": q50, "q95": q95}
            )
    return pd.DataFrame(rows)


def submit_sample(args, workdir: Path, settings) -> None:
    """Draw and submit the sample (a new campaign), or, resuming, check the drawn sample is in the store; either
    way resubmit it and check that nothing is added."""
    sample_csv = workdir / "sample.csv"
    submit = [
        "submit",
        str(sample_csv),
        "--workdir",
        str(settings.workdir),
        "--no-md",
        *(["--model", args.model] if args.model else []),
        *(["--phonon-batch", str(args.phonon_batch)] if args.phonon_batch else []),
    ]
    if not args.resume:
        ids = write_sample(args.pool, args.n_structures, args.seed, sample_csv)
        print(f"campaign in {workdir}: {len(ids)} pool rows drawn with seed {args.seed}")
        start = time.monotonic()
        print(campaign_line(na_flows(*submit)))
        record(workdir, "submission_s", time.monotonic() - start)
    before = sum(job_counts(settings).values())
    again = campaign_line(na_flows(*submit, expected=(EXIT_NOTHING_SUBMITTED,)))
    after = sum(job_counts(settings).values())
    print(f"resubmitted the sample: {again} (jobs {before} -> {after})")
    assert before == after, "resubmission added jobs"


def record(workdir: Path, key: str, seconds: float) -> dict:
    """Add ``seconds`` to ``key`` in the campaign's timing file (a campaign may run in several sittings)."""
    path = workdir / "timing.json"
    timing = json.loads(path.read_text()) if path.exists() else {}
    timing[key] = timing.get(key, 0.0) + seconds
    path.write_text(json.dumps(timing, indent=1))
    return timing


def run_to_the_end(args, workdir: Path, settings) -> None:
    log_dir = workdir / "logs"
    log_dir.mkdir(exist_ok=True)
    wall_s, worker_s, killed = run_workers(
        settings, args.workers, 1.0 if args.resume else args.kill_fraction, log_dir
    )
    leftover = {state: n for state, n in job_counts(settings).items() if state in UNFINISHED}
    if leftover:  # what a user does after a worker died: run again
        print(f"after the workers: {leftover}; a second run")
        start = time.monotonic()
        print(na_flows("run", "--workdir", str(settings.workdir)).strip().splitlines()[-1])
        wall_s, worker_s = wall_s + time.monotonic() - start, worker_s + time.monotonic() - start
    record(workdir, "wall_s", wall_s)
    record(workdir, "worker_s", worker_s)
    if killed:
        record(workdir, "workers_killed", 1)


def summarize(workdir: Path, settings) -> None:
    """The campaign's figures, from its store and its timing file (so a campaign run in sittings adds up)."""
    timing = record(workdir, "summaries", 1)
    counts = job_counts(settings)
    in_launches_s = launch_seconds(settings)
    per_job_s = probe_overhead(settings.workdir)
    with open_session(settings, read_only=True) as session:
        table = results_table(session)
        rejections = rejections_table(session)
    table.to_csv(workdir / "results.csv", index=False)
    na_flows("report", "--workdir", str(settings.workdir), "--out", str(workdir / "report"))
    n_jobs, worker_s, wall_s = (
        sum(counts.values()),
        timing.get("worker_s", 0.0),
        timing.get("wall_s", 0.0),
    )
    finished = table[table["state"].isin(["COMPLETED", "FIZZLED"])]
    n_done = max(len(finished), 1)
    print(
        f"\n## Campaign in {workdir}: {len(table)} workflows ({len(finished)} finished), {n_jobs} jobs; "
        f"workers killed with SIGKILL and replaced: {int(timing.get('workers_killed', 0))}"
    )
    print(f"job states: {dict(counts)}")
    print(
        f"submission: {timing.get('submission_s', float('nan')):.1f} s; wall {wall_s / 60:.1f} min = {wall_s / n_done:.1f} s per "
        f"finished structure; worker time {worker_s / n_done:.1f} s per finished structure"
    )
    print(
        f"bookkeeping: {1000 * per_job_s:.0f} ms per job (no-op probe on a copy of this store) x {n_jobs} jobs = "
        f"{100 * per_job_s * n_jobs / max(worker_s, 1e-9):.2f} % of worker time; outside launches (checkout, waiting, "
        f"killed runs): {100 * (1 - in_launches_s / max(worker_s, 1e-9)):.1f} %"
    )
    refused = (
        rejections[~rejections["reason"].str.startswith("already submitted")]
        if len(rejections)
        else rejections
    )
    refused = refused.drop_duplicates("candidate_id")  # each resubmission refuses them again
    print(f"rejected by the screen: {len(refused)}")
    for reason, n in Counter(
        refused["reason"].str.split(":").str[0] if len(refused) else []
    ).most_common():
        print(f"  - {n} x {reason}")
    failed = table[table["error"].notna()]
    print(f"failed workflows: {len(failed)}")
    for row in failed.itertuples():
        print(f"  - {row.candidate_id} {row.formula}: {row.error}")
    judged = table["dynamically_stable"].dropna()
    n_stable = int(judged.astype(bool).sum())
    print(
        f"dynamically stable: {n_stable} of {len(judged)} judged = {100 * n_stable / max(len(judged), 1):.0f} % (study: 35 %)"
    )
    print(table["stability_reason"].dropna().str.split(":").str[0].value_counts().to_string())
    print("descriptor distributions:")
    print(
        distribution(table, [*PHONON_COLUMNS[1:], *STRUCTURE_COLUMNS]).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )
    )
    print(f"results: {workdir / 'results.csv'}; report: {workdir / 'report' / 'index.html'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL)
    parser.add_argument(
        "--n-structures", type=int, default=120, help="rows drawn from the pool (before the screen)"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kill-fraction",
        type=float,
        default=0.3,
        help="kill a worker when this share of jobs is done",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="the campaign's store and run folders (default: a new temporary folder)",
    )
    parser.add_argument("--model", default=None, help="MLP (default: the settings' CPU default)")
    parser.add_argument(
        "--phonon-batch",
        type=int,
        help="phonon forces of this many structures per batched job (a torch-sim model: --model 7net-0)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="go on with the campaign in --workdir (after a kill or a stop)",
    )
    mode.add_argument(
        "--summary-only",
        action="store_true",
        help="only print the figures of the campaign in --workdir",
    )
    args = parser.parse_args()
    if not args.pool.exists():
        raise SystemExit(f"the candidate pool {args.pool} is missing (../shared/data/candidates)")
    if (args.resume or args.summary_only) and not (
        args.workdir and (args.workdir / "sample.csv").exists()
    ):
        raise SystemExit(
            "--resume and --summary-only need the --workdir of a campaign (it holds sample.csv)"
        )

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="na_flows_campaign_"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = resolve_settings(workdir=workdir / "store")
    if not args.summary_only:
        submit_sample(args, workdir, settings)
        run_to_the_end(args, workdir, settings)
    summarize(workdir, settings)


if __name__ == "__main__":
    main()
