"""Commands that run a campaign: demo, submit, run, status, recover, worker-files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from na_lattice_flows.candidates import UNKNOWN_GAP_POLICIES
from na_lattice_flows.cli.common import (
    EXIT_JOBS_FAILED,
    EXIT_NOTHING_SUBMITTED,
    EXIT_OK,
    add_store_options,
    open_session,
    store_settings,
)
from na_lattice_flows.cli.options import add_model_options, model_values, number, output_folder
from na_lattice_flows.cli.results import cmd_report, cmd_results
from na_lattice_flows.settings import trajectory_folder

if TYPE_CHECKING:
    from na_lattice_flows.candidates.loaders import LoadResult


def add_commands(commands) -> dict:
    """Add this group's subcommands; returns command name -> handler."""
    demo = commands.add_parser(
        "demo", help="screen and relax the built-in demo set now, then show results"
    )
    add_store_options(demo)
    _add_screen_options(demo)
    demo.set_defaults(md_preset="short")

    submit = commands.add_parser(
        "submit", help="screen candidates and add their flows to the LaunchPad"
    )
    submit.add_argument(
        "inputs", nargs="*", help="CSV tables, JSON lists, CIF/POSCAR files or folders"
    )
    submit.add_argument(
        "--optimade", choices=["oqmd", "mp"], help="also query this OPTIMADE provider (online)"
    )
    add_store_options(submit)
    _add_screen_options(submit)

    run = commands.add_parser("run", help="launch ready jobs on this machine until none is left")
    run.add_argument("--max-jobs", type=int, help="stop after this many jobs")
    run.add_argument(
        "--fworker",
        help="a FireWorks worker file: take only its categories (fworker_configs/gpu_worker.yaml, cpu_worker.yaml)",
    )
    add_store_options(run)

    files = commands.add_parser(
        "worker-files",
        help="write my_launchpad.yaml and jobflow.yaml for rlaunch/qlaunch on the configured store",
        description="FireWorks' and jobflow's configuration files for plain rlaunch/qlaunch/lpad on the store na-flows "
        "uses (MongoDB URI with its authentication, TLS and replica-set options, or the embedded store). Written "
        "readable by you only: a URI may hold a password.",
    )
    files.add_argument(
        "--out", type=output_folder, default=".", help="folder to write them into (default: here)"
    )
    add_store_options(files)

    status = commands.add_parser("status", help="count jobs per state")
    add_store_options(status)

    recover = commands.add_parser(
        "recover",
        help="rerun jobs whose worker died",
        description="Put jobs left RUNNING by a dead worker back in the queue (an MD job resumes from its checkpoint). "
        "Embedded store: every running job is lost (`na-flows run` does this itself). MongoDB: jobs whose worker has "
        "not pinged for --expiration-hours (FireWorks' detect_lostruns).",
    )
    recover.add_argument(
        "--expiration-hours",
        type=number(above=0, unit="h"),  # 0 or less would declare live runs lost on MongoDB
        default=4.0,
        help="MongoDB: silence after which a run is lost (default 4)",
    )
    add_store_options(recover)
    return {
        "demo": cmd_demo,
        "submit": cmd_submit,
        "run": cmd_run,
        "worker-files": cmd_worker_files,
        "status": cmd_status,
        "recover": cmd_recover,
    }


def _add_screen_options(parser: argparse.ArgumentParser) -> None:
    from na_lattice_flows.workflow.options import ScreeningOptions

    add_model_options(parser, ScreeningOptions)
    parser.add_argument(
        "--max-sites",
        type=number(at_least=1, integer=True),
        default=200,
        help="largest unit cell screened (default 200 atoms)",
    )
    parser.add_argument(
        "--allow-disordered", action="store_true", help="keep structures with partial occupancies"
    )
    parser.add_argument(
        "--no-dedup", action="store_true", help="skip StructureMatcher deduplication"
    )
    parser.add_argument(
        "--unknown-gap",
        choices=UNKNOWN_GAP_POLICIES,
        default="keep",
        help="structures without a band gap (CIF/POSCAR files): keep them (default; counted in the summary), "
        "charge-balance (refuse those with no charge-balanced oxidation states: metals, intermetallics) or refuse",
    )
    parser.add_argument(
        "--force", action="store_true", help="resubmit candidates that already have a workflow"
    )
    parser.add_argument(
        "--phonon-batch",
        type=number(at_least=1, integer=True),
        metavar="N",
        help="one workflow per N candidates whose phonon forces come from one batched job on a GPU worker (a torch-sim "
        "model: SevenNet, UMA; second order only); the same results and settings as one workflow each",
    )


def _flow_maker(args: argparse.Namespace):
    from na_lattice_flows.api import screening_maker
    from na_lattice_flows.workflow.options import ScreeningOptions

    values = model_values(args, ScreeningOptions)
    values["trajectory_dir"] = str(
        trajectory_folder(args.trajectory_dir, store_settings(args).workdir)
    )
    return screening_maker(**values)


def _screen_and_submit(args: argparse.Namespace, loaded: LoadResult, inputs: list[str]) -> int:
    """Screen, submit and say what happened; the exit status: nothing submitted is EXIT_NOTHING_SUBMITTED."""
    from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates
    from na_lattice_flows.execution.submission import submit_candidates

    criteria = ScreeningCriteria(
        max_sites=args.max_sites,
        allow_disordered=args.allow_disordered,
        deduplicate=not args.no_dedup,
        unknown_gap=args.unknown_gap,
    )
    report = screen_candidates(loaded, criteria)
    flow_maker = _flow_maker(args)  # invalid settings fail here, before the store is opened
    settings = store_settings(args)
    with open_session(settings) as session:
        record = submit_candidates(
            session,
            report,
            inputs,
            flow_maker=flow_maker,
            force=args.force,
            processes=os.cpu_count() or 1,
            phonon_batch=args.phonon_batch,
        )
    print(f"Store: {settings.describe()}")
    n_structures, n_workflows = len(record.submitted), len(set(record.submitted.values()))
    # --phonon-batch: several structures share a workflow
    submitted = (
        f"{n_structures} flows submitted"
        if n_structures == n_workflows
        else f"{n_structures} structures submitted in {n_workflows} workflows"
    )
    print(
        f"Campaign {record.campaign_id}: {submitted}, {len(record.rejections)} structures not submitted"
    )
    for rejection in record.rejections:
        print(f"  - {rejection.candidate_id} ({rejection.source}): {rejection.reason}")
    for note in report.notes:
        print(f"  note: {note}")
    without_gap = [cid for cid in report.accepted_without_gap if cid in record.submitted]
    if without_gap:
        print(
            f"  note: {len(without_gap)} structures have no band gap in their input ({', '.join(without_gap[:5])}"
            f"{', ...' if len(without_gap) > 5 else ''}): the gap > 0 criterion was not applied to them; "
            "--unknown-gap charge-balance refuses those that cannot be charge-balanced (metals), refuse refuses all"
        )
    return EXIT_OK if record.submitted else EXIT_NOTHING_SUBMITTED


def cmd_demo(args: argparse.Namespace) -> int:
    """``na-flows demo``: screen and submit the built-in demo set, run it, print the results and the
    report."""
    from na_lattice_flows.candidates.demo_set import demo_candidates
    from na_lattice_flows.candidates.loaders import LoadResult

    print(
        "Screening and relaxing the built-in demo set (NaCl, Na2S, Na3OCl, cubic Na3PS4, cubic Na3SbS4)"
    )
    # a repeat submits nothing
    _screen_and_submit(args, LoadResult(candidates=demo_candidates()), ["built-in demo set"])
    ran = cmd_run(args)
    cmd_results(_reading_args(args, "results"))
    return (
        cmd_report(
            _reading_args(args, "report", "--out", str(store_settings(args).workdir / "report"))
        )
        or ran
    )


def _reading_args(args: argparse.Namespace, command: str, *options: str) -> argparse.Namespace:
    """``command``'s arguments as its own parser gives them (every option it has, with its default) on the store
    of ``args``: how the demo shows the results and writes the report, whatever options those commands gain."""
    from na_lattice_flows.cli import results

    parser = argparse.ArgumentParser(prog="na-flows")
    results.add_commands(parser.add_subparsers(dest="command"))
    store = [
        *(["--workdir", args.workdir] if args.workdir else []),
        *(["--mongodb-uri", args.mongodb_uri] if args.mongodb_uri else []),
    ]
    return parser.parse_args([command, *store, *options])


def cmd_submit(args: argparse.Namespace) -> int:
    """``na-flows submit``: load, screen and submit the inputs; exit 3 when nothing was submitted."""
    from na_lattice_flows.candidates.loaders import CandidateInputError, LoadResult, load_candidates

    if not args.inputs and not args.optimade:
        raise CandidateInputError(
            "submit: name at least one input (CSV, JSON, CIF/POSCAR, folder) or --optimade"
        )
    loaded = load_candidates(args.inputs) if args.inputs else LoadResult()
    inputs = list(args.inputs)
    if args.optimade:
        from na_lattice_flows.candidates.optimade import query_optimade

        loaded.extend(query_optimade(args.optimade, max_sites=args.max_sites))
        inputs.append(f"optimade:{args.optimade}")
    return _screen_and_submit(args, loaded, inputs)


def cmd_run(args: argparse.Namespace) -> int:
    """``na-flows run``: launch ready jobs on this machine until none is left; exit 4 when jobs
    failed."""
    from na_lattice_flows.execution.launching import (
        fw_state_counts,
        fworker_from_file,
        run_ready_jobs,
    )

    fworker = fworker_from_file(args.fworker) if getattr(args, "fworker", None) else None
    with open_session(store_settings(args)) as session:
        failed_before = fw_state_counts(session).get("FIZZLED", 0)
        launched = run_ready_jobs(
            session,
            fworker=fworker,
            max_jobs=getattr(args, "max_jobs", None),
            job_logs=not args.verbose,
        )
        counts = fw_state_counts(session)
    print(f"Launched {launched} jobs; job states now: {_format_counts(counts)}")
    failed = counts.get("FIZZLED", 0) - failed_before
    if failed > 0:
        print(f"{failed} jobs failed in this run (their errors: na-flows results --failed)")
        return EXIT_JOBS_FAILED
    return EXIT_OK


def _format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "no jobs"


def cmd_status(args: argparse.Namespace) -> int:
    """``na-flows status``: job counts, running jobs with their workers, and the failed ones."""
    from na_lattice_flows.execution.launching import fw_state_counts, running_jobs
    from na_lattice_flows.execution.queries import member_fields, workflow_members
    from na_lattice_flows.execution.results import failures_table
    from na_lattice_flows.execution.workers import live_workers

    settings = store_settings(args, existing=True)
    with open_session(settings, read_only=True) as session:
        counts = fw_state_counts(session)
        n_workflows = session.launchpad.workflows.count_documents({})
        group_sizes = [
            len(workflow_members(wf["metadata"]))
            for wf in session.launchpad.workflows.find(
                {"metadata.members": {"$exists": True}}, member_fields("candidate_id")
            )
        ]
        failures = failures_table(session)
        running = running_jobs(session)
    workers = live_workers(settings.workdir) if settings.mode == "embedded" else []
    print(f"Store: {settings.describe()}")
    if group_sizes:  # a --phonon-batch workflow holds several structures
        n_groups, n_grouped = len(group_sizes), sum(group_sizes)
        workflows = f"{n_workflows - n_groups + n_grouped} structures ({n_workflows} workflows, {n_groups} of them batches of {n_grouped})"
    else:
        workflows = f"{n_workflows} structures (workflows)"
    print(f"{workflows}; jobs: {_format_counts(counts)}")
    total = sum(counts.values())
    if total:
        done = counts.get("COMPLETED", 0)
        waiting = counts.get("READY", 0) + counts.get("WAITING", 0) + counts.get("RESERVED", 0)
        print(
            f"progress: {done}/{total} jobs done ({100 * done / total:.0f} %), {counts.get('RUNNING', 0)} running, "
            f"{waiting} waiting, {counts.get('FIZZLED', 0)} failed"
        )
    if workers or running:
        busy = {row["worker"]: row for row in running}
        names = [w["name"] for w in workers] + [
            name for name in busy if name not in {w["name"] for w in workers}
        ]
        print(f"workers ({len(names)}):")
        live = {w["name"] for w in workers}
        for name in names:
            row = busy.get(name)
            # its process died (a kill, a crash, a reboot)
            gone = settings.mode == "embedded" and name not in live
            print(
                f"  - {name}: "
                + (f"{row['job']!r} (fw {row['fw_id']}) since {row['since']}" if row else "idle")
                + (
                    " -- worker gone: the next `na-flows run` (or `na-flows recover`) reruns this job"
                    if gone
                    else ""
                )
            )
    if not failures.empty:
        print(f"{len(failures)} failed jobs (tracebacks: na-flows results --failed --format json):")
        for row in failures.itertuples():
            owner = (
                row.candidate_id or row.workflow
            )  # a structure, or a study / dataset / benchmark
            print(f"  - {owner} {row.job!r} (fw {row.fw_id}): {row.error}")
    return 0


def cmd_worker_files(args: argparse.Namespace) -> int:
    """``na-flows worker-files``: the LaunchPad and worker files for rlaunch on HPC nodes."""
    from na_lattice_flows.execution.worker_files import write_worker_files

    settings = store_settings(args)
    written = write_worker_files(settings, Path(args.out))
    print(f"Wrote {', '.join(str(path) for path in written)} for {settings.describe()}; then:")
    print(f"  export JOBFLOW_CONFIG_FILE={written[1].resolve()}")
    print(f"  rlaunch -l {written[0].resolve()} -w fworker_configs/gpu_worker.yaml rapidfire")
    if settings.mode == "embedded":
        print(
            "  (embedded store: `na-flows run --fworker ...` does the same; FireWorks' own commands reach it through "
            "`python -m na_lattice_flows.execution.fireworks_commands rlaunch ...`)"
        )
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    """``na-flows recover``: put jobs of dead workers back in the queue."""
    from na_lattice_flows.execution.launching import recover_lost_runs

    with open_session(store_settings(args, existing=True)) as session:
        lost = recover_lost_runs(session, expiration_secs=args.expiration_hours * 3600)
    print(f"{len(lost)} lost jobs put back in the queue")
    for run in lost:
        print(f"  - {run.name} (fw {run.fw_id}), was running on {run.host} in {run.launch_dir}")
    return 0
