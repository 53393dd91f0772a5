"""Commands that read results: results, report, predict."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from na_lattice_flows.cli.common import add_store_options, open_session, store_settings, write_table
from na_lattice_flows.cli.options import number, output_file, output_folder
from na_lattice_flows.errors import InputError, MissingInputError


def add_commands(commands) -> dict:
    """Add this group's subcommands; returns command name -> handler."""
    results = commands.add_parser(
        "results",
        help="one row per workflow (structure x settings): state, campaign, relaxation, descriptors, D, error",
    )
    results.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help="table: the main columns on screen; csv, json, parquet (needs --output): every column",
    )
    results.add_argument(
        "--output", type=output_file, help="write to this file instead of the screen"
    )
    listing = results.add_mutually_exclusive_group()
    listing.add_argument(
        "--rejected", action="store_true", help="list the structures the screen dropped instead"
    )
    listing.add_argument(
        "--failed", action="store_true", help="list the failed jobs with their errors instead"
    )
    listing.add_argument(
        "--benchmarks",
        action="store_true",
        help="list the stored force-field benchmarks (benchmark-forces --submit) instead: each one's "
        "models, best first, with their stability agreement and errors against DFT",
    )
    stable = results.add_mutually_exclusive_group()
    stable.add_argument(
        "--stable",
        dest="dynamically_stable",
        action="store_true",
        default=None,
        help="only dynamically stable structures",
    )
    stable.add_argument(
        "--unstable",
        dest="dynamically_stable",
        action="store_false",
        help="only dynamically unstable structures",
    )
    melted = results.add_mutually_exclusive_group()
    melted.add_argument(
        "--melted",
        dest="melted",
        action="store_true",
        default=None,
        help="only structures whose MD melted",
    )
    melted.add_argument(
        "--not-melted",
        dest="melted",
        action="store_false",
        help="only structures whose MD stayed solid",
    )
    results.add_argument(
        "--disputed",
        action="store_true",
        default=None,
        help="only structures whose stability the committee's force fields dispute (submit --committee): "
        "the ones to send to DFT phonons first",
    )
    results.add_argument(
        "--min-d", type=number(at_least=0, unit="A^2/ps"), help="only D >= this, A^2/ps"
    )
    results.add_argument(
        "--d-column",
        choices=["avg", "max", "kinisi"],
        default="avg",
        help="which D --min-d reads (default avg)",
    )
    results.add_argument("--campaign", help="only this campaign id")
    results.add_argument(
        "--settings",
        help="only workflows with these flow settings (a prefix of the settings_fingerprint column)",
    )
    results.add_argument(
        "--state", help="only workflows in this state (COMPLETED, FIZZLED, RUNNING, ...)"
    )
    add_store_options(results)

    report = commands.add_parser(
        "report",
        help="write the analysis report (HTML, tables, figures, D model)",
        description="One self-contained HTML page (figures embedded, sortable tables, top candidates, failures and why) "
        "in OUT/index.html, with each campaign's table as CSV and Parquet, correlations.csv, the figures as PNG and SVG "
        "and the trained D models (joblib) beside it. Sections without enough data say what they could not compute.",
    )
    report.add_argument(
        "--out", type=output_folder, required=True, help="folder to write the report into"
    )
    report.add_argument(
        "--campaign", help="only this campaign id (default: every structure in the store)"
    )
    report.add_argument(
        "--top",
        type=number(at_least=1, integer=True),
        default=10,
        help="how many top candidates to list (default 10)",
    )
    report.add_argument(
        "--dispersions",
        type=number(at_least=0, integer=True),
        default=3,
        help="dispersion figures for this many top structures (default 3)",
    )
    add_store_options(report)

    predict = commands.add_parser(
        "predict",
        help="rank candidates by D predicted from their phonon descriptors",
        description="Rank dynamically stable structures with phonon descriptors by the log10 D a trained model "
        "(`na-flows report` writes diffusion_model.joblib) predicts, so that MD goes to the most promising first. "
        "Reads the store's structures (by default those without MD yet), or a table exported by `results`/`report`.",
    )
    predict.add_argument(
        "--model", required=True, help="a diffusion_model.joblib written by `na-flows report`"
    )
    predict.add_argument(
        "--table", help="rank the rows of this CSV or Parquet table instead of the store's"
    )
    predict.add_argument("--campaign", help="only this campaign id")
    predict.add_argument(
        "--all", action="store_true", help="include structures that already have D from MD"
    )
    predict.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="table on screen (default), csv or json",
    )
    predict.add_argument(
        "--output", type=output_file, help="write to this file instead of the screen"
    )
    add_store_options(predict)

    return {"results": cmd_results, "report": cmd_report, "predict": cmd_predict}


def cmd_results(args: argparse.Namespace) -> int:
    """``na-flows results``: one row per workflow (or the rejected, or the failed), filtered and
    written."""
    from na_lattice_flows.execution.queries import force_benchmark_documents
    from na_lattice_flows.execution.results import (
        failures_table,
        filter_results,
        force_benchmarks_table,
        melt_undecided,
        rejections_table,
        results_table,
    )
    from na_lattice_flows.workflow.columns import MAIN_COLUMNS

    with open_session(store_settings(args, existing=True), read_only=True) as session:
        if args.rejected:
            table = rejections_table(session)
        elif args.failed:
            table = failures_table(session)
            if args.format == "table":
                table = table.drop(columns=["traceback", "launch_dir"])
        elif args.benchmarks:
            table = force_benchmarks_table(force_benchmark_documents(session))
        else:
            everything = results_table(session)
            table = filter_results(
                everything,
                dynamically_stable=args.dynamically_stable,
                melted=args.melted,
                min_D_A2_per_ps=args.min_d,
                D_column=f"D_{args.d_column}_A2_per_ps",
                campaign_id=args.campaign,
                state=args.state,
                settings_fingerprint=args.settings,
                disputed=args.disputed,
            )
            undecided = melt_undecided(everything) if args.melted is not None else 0
            if undecided:
                print(
                    f"note: {undecided} structures with MD are left out: their runs are shorter than 10 ps, "
                    "below which the melt filter is not applied (their melted is empty)",
                    file=sys.stderr,
                )
            if args.disputed and args.format == "table":
                table = table[
                    [
                        "candidate_id",
                        "formula",
                        "state",
                        "dynamically_stable",
                        "dispute",
                        "committee_verdicts",
                    ]
                ]
        if args.format == "table" and not (
            args.rejected or args.failed or args.benchmarks or args.disputed
        ):
            table = table[[*MAIN_COLUMNS, "error"]]  # the whole table: --format csv/json/parquet
    write_table(table, args.format, args.output)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``na-flows report``: the HTML report, its tables, figures and D models."""
    from na_lattice_flows.analysis.report import build_report

    with open_session(store_settings(args, existing=True), read_only=True) as session:
        report = build_report(
            session,
            args.out,
            campaign_id=args.campaign,
            n_top=args.top,
            n_dispersions=args.dispersions,
        )
    print(
        f"Report: {report.path} ({len(report.figures) // 2} figures, {len(report.tables) // 2} campaign tables, "
        f"{len(report.model_paths)} D models)"
    )
    for reason in report.cannot_compute:
        print(f"  not computed: {reason}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``na-flows predict``: rank structures without MD by a saved D model."""
    import pandas as pd

    from na_lattice_flows.analysis.dataset import dataset
    from na_lattice_flows.analysis.ml import DiffusionModel, rank_candidates
    from na_lattice_flows.execution.results import results_table

    model = DiffusionModel.load(args.model)
    if args.table:
        path = Path(args.table)
        if not path.is_file():
            raise MissingInputError(f"--table {path}: no such file")
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    else:
        with open_session(store_settings(args, existing=True), read_only=True) as session:
            table = results_table(session)
    if args.campaign:
        if args.campaign not in set(table.get("campaign_id", pd.Series(dtype=str)).dropna()):
            raise InputError(f"--campaign {args.campaign}: no such campaign among the rows read")
        table = table[table["campaign_id"] == args.campaign]
    table = dataset(table) if "usable_for_D" not in table.columns else table
    if not args.all:
        table = table[pd.to_numeric(table["D_avg_A2_per_ps"], errors="coerce").isna()]
    ranking = rank_candidates(model, table.reset_index(drop=True))
    print(
        f"Model: {model.best} on {len(model.features)} features, grouped-CV R2 {model.scores[model.best].r2:.2f}, "
        f"trained on {model.n_structures} structures ({model.n_systems} chemical systems)",
        file=sys.stderr,
    )
    write_table(ranking, args.format, args.output)
    return 0
