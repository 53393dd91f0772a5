"""AIMD validation of the screen from the command line: ``na-flows validate submit`` (AIMD of the top hits by MLP
D, with GPAW or VASP, compared with their MLP MD) and ``na-flows validate results`` (the comparisons)."""

from __future__ import annotations

import argparse

from na_lattice_flows.cli.common import (
    add_store_options,
    add_table_options,
    open_session,
    store_settings,
    write_table,
)
from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import SETTINGS, trajectory_folder

VALIDATION_COLUMNS = [
    "candidate_id",
    "aimd_engine",
    "temperature_K",
    "D_mlp_A2_per_ps",
    "D_aimd_A2_per_ps",
    "D_ratio_mlp_over_aimd",
    "D_max_mlp_A2_per_ps",
    "D_max_aimd_A2_per_ps",
    "aimd_melted",
    "mlp_trajectory_path",
    "aimd_trajectory_paths",
]


def add_commands(commands) -> dict:
    """Add this group's subcommands; returns command name -> handler."""
    validate = commands.add_parser(
        "validate",
        help="AIMD validation of the top hits (GPAW or VASP) against their MLP MD",
        description="`validate submit` adds AIMD of the --top structures with the largest MLP D (finished screening "
        "flows whose MD did not melt) and a comparison job per structure: both MSD(t) curves, both D and their ratio. "
        "Run it with `na-flows run` (GPAW, CPU workers) or rlaunch with fworker_configs/cpu_worker.yaml (VASP). "
        "`validate results` lists the comparisons.",
    )
    actions = validate.add_subparsers(dest="validate_action", required=True, metavar="ACTION")
    submit = actions.add_parser("submit", help="add the AIMD validation flow of the top hits")
    submit.add_argument(
        "--top", type=int, default=5, help="number of structures, largest MLP D first (default 5)"
    )
    submit.add_argument(
        "--engine", choices=["gpaw", "vasp"], default="vasp", help="AIMD code (default vasp)"
    )
    submit.add_argument(
        "--temperature",
        type=float,
        default=SETTINGS.temperature_K,
        help=f"K (default {SETTINGS.temperature_K:g})",
    )
    submit.add_argument(
        "--steps", type=int, default=20_000, help="AIMD steps of 1.5 fs (default 20 000 = 30 ps)"
    )
    submit.add_argument(
        "--wall-time",
        type=int,
        help="VASP: the queue's wall time per segment, s (custodian's WalltimeHandler)",
    )
    submit.add_argument(
        "--frame-models",
        default=SETTINGS.default_model,
        help="comma-separated models to test on random frames of the AIMD runs afterwards (default "
        f"{SETTINGS.default_model}; 'none': no frame benchmark)",
    )
    submit.add_argument(
        "--dft-phonons",
        metavar="MODEL",
        help="also DFT phonons of each hit (30 supercells displaced 0.03 A; VASP statics with --engine vasp, else GPAW) "
        "beside MODEL's on the same supercells",
    )
    submit.add_argument(
        "--disputed",
        action="store_true",
        help="instead of AIMD of the top hits: DFT phonons (needs --dft-phonons MODEL) of every structure whose "
        "stability the committee disputes (submit --committee)",
    )
    submit.add_argument(
        "--frames",
        type=int,
        default=200,
        help="frames drawn per AIMD run for that test (default 200)",
    )
    submit.add_argument(
        "--trajectory-dir",
        help="GPAW: where AIMD trajectories go (default <workdir>/trajectories; every worker sees it)",
    )
    add_store_options(submit)
    results = actions.add_parser("results", help="the MLP-vs-AIMD comparisons in the store")
    add_table_options(results)
    add_store_options(results)
    return {"validate": cmd_validate}


def cmd_validate(args: argparse.Namespace) -> int:
    """``na-flows validate ACTION``."""
    return {"submit": _submit, "results": _results}[args.validate_action](args)


def _submit(args: argparse.Namespace) -> int:
    from na_lattice_flows.api import validation_flow
    from na_lattice_flows.execution.queries import summary_documents
    from na_lattice_flows.execution.submission import add_flow
    from na_lattice_flows.models import resolve_model

    if args.top < 1:
        raise InputError(f"--top {args.top}: must be at least 1")
    if args.frames < 1:
        raise InputError(f"--frames {args.frames}: must be at least 1")
    frame_models = (
        []
        if args.frame_models.strip().lower() == "none"
        else [m.strip() for m in args.frame_models.split(",") if m.strip()]
    )
    for model in [*frame_models, *([args.dft_phonons] if args.dft_phonons else [])]:
        resolve_model(model)  # an unknown name fails here, before anything is submitted
    settings = store_settings(args)
    if args.disputed:
        return _submit_disputed(args, settings)
    with open_session(settings) as session:
        flow = validation_flow(
            summary_documents(session),
            args.top,
            args.engine,
            args.temperature,
            args.steps,
            args.wall_time,
            trajectory_folder(args.trajectory_dir, settings.workdir),
            frame_models,
            args.frames,
            dft_phonon_model=args.dft_phonons,
        )
        fw_id = add_flow(
            session,
            flow,
            f"aimd validation ({args.engine})",
            {"kind": "aimd validation", "engine": args.engine},
        )
    print(
        f"{settings.describe()}: AIMD ({args.engine}) of the top {args.top} structures by MLP D submitted as workflow {fw_id}; "
        "launch it with `na-flows run` or rlaunch"
    )
    return 0


def _submit_disputed(args: argparse.Namespace, settings) -> int:
    from na_lattice_flows.api import disputed_dft_phonons_flow
    from na_lattice_flows.execution.queries import summary_documents
    from na_lattice_flows.execution.submission import add_flow

    if not args.dft_phonons:
        raise InputError(
            "--disputed: give --dft-phonons MODEL (the model whose phonons the DFT ones are compared with)"
        )
    with open_session(settings) as session:
        flow = disputed_dft_phonons_flow(
            summary_documents(session), args.engine, args.dft_phonons, args.temperature
        )
        fw_id = add_flow(
            session,
            flow,
            "dft phonons of disputed",
            {"kind": "dft phonons of disputed", "engine": args.engine},
        )
    print(
        f"{settings.describe()}: DFT phonons ({args.engine}) of {len(flow.jobs) // 2} disputed structures submitted as workflow "
        f"{fw_id}; launch it with `na-flows run` or rlaunch"
    )
    return 0


def _results(args: argparse.Namespace) -> int:
    import pandas as pd

    from na_lattice_flows.execution.queries import validation_documents

    with open_session(store_settings(args, existing=True), read_only=True) as session:
        documents = validation_documents(session)
    table = pd.DataFrame(
        [{column: doc.get(column) for column in VALIDATION_COLUMNS} for doc in documents],
        columns=VALIDATION_COLUMNS,
    )
    write_table(table, args.format, args.output)
    return 0
