"""What the production path costs beside the physics: the time to submit 1000 structures of the candidate pool
(screen, fingerprint, make the flow, route, add to the LaunchPad, record the campaign), the time to resubmit them
(all found, nothing added), and the overhead per job of dispatch + store (FireWorks checkout, jobflow run,
JobStore write, LaunchPad save) measured on a job that does nothing, on an empty store and on the store holding
the 1000 submitted workflows (the embedded LaunchPad is one file saved whole at each checkout and completion),
and the time to read that store back: the results table and the report (`na-flows results`, `na-flows report`).

    .venv/bin/python benchmarks/execution_overhead.py [--n-structures 1000] [--n-jobs 40] [--mongodb-uri URI]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from fireworks import FWorker
from jobflow import Flow
from jobflow.core.job import store_inputs

from na_lattice_flows.analysis.report import build_report
from na_lattice_flows.candidates.loaders import LoadResult, load_csv
from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates
from na_lattice_flows.execution.launching import run_ready_jobs
from na_lattice_flows.execution.results import results_table
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow, submit_candidates
from na_lattice_flows.workflow.screening import ScreeningFlowMaker

DEFAULT_POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)


def dispatch_overhead(settings, n_jobs: int) -> tuple[float, float]:
    """Seconds per job to submit and to dispatch+store a job whose own work is nil (jobflow's store_inputs)."""
    with open_session(settings) as session:
        start = time.perf_counter()
        for index in range(n_jobs):
            add_flow(session, Flow([store_inputs({"index": index})]), f"no-op {index}")
        submitted = time.perf_counter()
        # not the screening jobs beside them
        only_no_ops = FWorker(name="benchmark", query={"name": "store_inputs"})
        launched = run_ready_jobs(session, fworker=only_no_ops, max_jobs=n_jobs, progress=False)
        finished = time.perf_counter()
    assert launched == n_jobs, launched
    return (submitted - start) / n_jobs, (finished - submitted) / n_jobs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL)
    parser.add_argument("--n-structures", type=int, default=1000)
    parser.add_argument("--n-jobs", type=int, default=40)
    parser.add_argument(
        "--mongodb-uri",
        help="measure on this MongoDB instead of the embedded store (a fresh database)",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="then submit the structures this many times in all (--force) and measure again: 10 -> 10,000 workflows",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="na_flows_bench_"))
    settings = resolve_settings(workdir=workdir / "store", mongodb_uri=args.mongodb_uri)
    print(f"store: {settings.describe()}")
    empty_submit, empty_dispatch = dispatch_overhead(
        resolve_settings(workdir=workdir / "empty", mongodb_uri=args.mongodb_uri), args.n_jobs
    )

    start = time.perf_counter()
    pool = load_csv(args.pool)
    report = screen_candidates(pool, ScreeningCriteria())
    accepted = report.accepted[: args.n_structures]
    loaded = time.perf_counter()
    subset = screen_candidates(
        LoadResult(candidates=accepted), ScreeningCriteria(deduplicate=False)
    )
    maker = ScreeningFlowMaker()
    processes = os.cpu_count() or 1  # as na-flows submit
    with open_session(settings) as session:
        first = time.perf_counter()
        record = submit_candidates(session, subset, [str(args.pool)], maker, processes=processes)
        submitted = time.perf_counter()
        again = submit_candidates(session, subset, [str(args.pool)], maker, processes=processes)
        resubmitted = time.perf_counter()
    n = len(record.submitted)
    assert not again.submitted, "resubmission added flows"
    launchpad_mb = (
        settings.launchpad_db.stat().st_size / 1e6 if settings.mode == "embedded" else float("nan")
    )
    full_submit, full_dispatch = dispatch_overhead(settings, args.n_jobs)
    with open_session(settings) as session:
        reading = time.perf_counter()
        results_table(session)
        tabled = time.perf_counter()
        build_report(session, workdir / "report")
        reported = time.perf_counter()

    print(
        f"load + screen + deduplicate the pool ({len(pool.candidates)} structures): {loaded - start:.1f} s"
    )
    print(
        f"submit {n} structures (4 jobs each, paper settings): {submitted - first:.1f} s = {1000 * (submitted - first) / n:.1f} ms per structure"
    )
    print(f"resubmit the same {n} (all found, nothing added): {resubmitted - submitted:.1f} s")
    print(f"embedded LaunchPad file (launchpad.sqlite) after submission: {launchpad_mb:.1f} MB")
    print("| store | submit per job (ms) | dispatch + store per job (ms) |")
    print("|---|---|---|")
    print(f"| empty | {1000 * empty_submit:.1f} | {1000 * empty_dispatch:.1f} |")
    print(f"| holding {n} workflows | {1000 * full_submit:.1f} | {1000 * full_dispatch:.1f} |")
    print(
        f"results table of {n} workflows: {tabled - reading:.1f} s; report: {reported - tabled:.1f} s"
    )
    if args.copies > 1:
        with open_session(settings) as session:
            start = time.perf_counter()
            for _ in range(args.copies - 1):
                submit_candidates(
                    session, subset, [str(args.pool)], maker, force=True, processes=processes
                )
            copied = time.perf_counter()
            n_workflows = session.launchpad.workflows.count_documents({})
        big_submit, big_dispatch = dispatch_overhead(settings, args.n_jobs)
        print(
            f"{args.copies - 1} more copies: {copied - start:.0f} s; | holding {n_workflows} workflows | {1000 * big_submit:.1f} | "
            f"{1000 * big_dispatch:.1f} |"
        )


if __name__ == "__main__":
    main()
