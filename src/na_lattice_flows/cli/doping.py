"""The doped-electrolyte study from the command line: ``na-flows doping cell`` (one doped supercell, the tool a
user runs before submitting, the flow's own code), ``doping submit`` (the study's flow) and ``doping results``
(its tables). Run the flow with ``na-flows run`` or rlaunch; ``na-flows report`` shows it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from na_lattice_flows.cli.common import (
    EXIT_NOTHING_SUBMITTED,
    add_store_options,
    add_table_options,
    open_session,
    read_structure_file,
    store_settings,
    write_table,
)
from na_lattice_flows.cli.options import model_name, number, numbers, output_file, temperature_grid
from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import SETTINGS


def _fractions(text: str) -> list[float]:
    try:
        return [float(value) for value in text.split(",") if value.strip()]
    except ValueError as exc:
        raise InputError(
            f"--fractions {text!r}: give comma-separated numbers, e.g. 0,0.05,0.1"
        ) from exc


def add_commands(commands) -> dict:
    """Add ``na-flows doping`` and its actions to ``commands``; their handlers by name."""
    doping = commands.add_parser(
        "doping",
        help="the doped-electrolyte study: doped cells (SQS + Na vacancies), NPT T_C, anisotropic and correlated diffusion",
        description="`doping cell` writes one doped supercell; `doping submit` adds the study's flow (pristine, each "
        "fraction with its Na vacancies, and the dopant-only and vacancies-only controls); `doping results` lists its tables.",
    )
    actions = doping.add_subparsers(dest="doping_action", required=True, metavar="ACTION")
    cell = actions.add_parser("cell", help="write one doped supercell and print its counts as JSON")
    cell.add_argument("structure", help="the host's conventional cell (CIF or POSCAR)")
    cell.add_argument("--dopant", required=True, help="DOPANT:HOST, e.g. W:Sb")
    cell.add_argument(
        "--fraction", type=float, required=True, help="fraction of the host sites, e.g. 0.125"
    )
    cell.add_argument("--supercell", required=True, help="NxMxK, e.g. 2x2x2")
    cell.add_argument(
        "--seed", type=int, default=0, help="SQS annealing and vacancy placement (default 0)"
    )
    mode = cell.add_mutually_exclusive_group()
    mode.add_argument(
        "--no-vacancies",
        action="store_true",
        help="the dopant only (no charge-compensating Na vacancies)",
    )
    mode.add_argument(
        "--vacancies-only", action="store_true", help="the Na vacancies only (no dopant)"
    )
    cell.add_argument(
        "--out", type=output_file, required=True, help="output file: .cif, or POSCAR/.vasp"
    )
    host = actions.add_parser(
        "host",
        help="build a host by substitution (e.g. tetragonal Na3SbS4 from Na3PS4), relaxed in its space group",
    )
    host.add_argument(
        "structure", help="a CIF/POSCAR, or a CSV/JSON input with --id (e.g. the pool and mp-28782)"
    )
    host.add_argument("--id", help="the entry of a CSV/JSON input (e.g. mp-28782)")
    host.add_argument(
        "--substitute",
        required=True,
        help="OLD:NEW, e.g. P:Sb (the volume is scaled by the cubic Na3SbS4/Na3PS4 ratio)",
    )
    host.add_argument(
        "--relax-model",
        help="MLP to relax positions and cell in the space group (e.g. 7net-0); default: not relaxed",
    )
    host.add_argument(
        "--out", type=output_file, required=True, help="output file: .cif, or POSCAR/.vasp"
    )
    submit = actions.add_parser("submit", help="add the doped study's flow")
    submit.add_argument(
        "structure", help="the host's conventional cell (CIF or POSCAR), e.g. tetragonal Na3SbS4"
    )
    submit.add_argument("--dopant", default="W:Sb", help="DOPANT:HOST (default W:Sb)")
    submit.add_argument(
        "--fractions",
        default="0,0.025,0.05,0.075,0.1",
        help="comma-separated (default: the study's 0,0.025,0.05,0.075,0.1)",
    )
    submit.add_argument(
        "--model",
        default=SETTINGS.doping_model,
        help=f"MLP registry name (default {SETTINGS.doping_model})",
    )
    submit.add_argument(
        "--preset",
        choices=["paper", "short"],
        help="paper (the default, said when taken): the study's sizes (GPU); short: 2 CPU cores",
    )
    submit.add_argument("--supercell", help="NxMxK: override the preset's")
    submit.add_argument(
        "--temperatures", help="coarse grid, comma-separated K (default: the preset's)"
    )
    submit.add_argument(
        "--transport-temperatures", help="comma-separated K (default: the preset's)"
    )
    submit.add_argument(
        "--fine-step", type=float, help="fine-grid step, K (default: the preset's; the study: 12.5)"
    )
    submit.add_argument(
        "--no-controls",
        action="store_true",
        help="leave out the dopant-only and vacancies-only systems",
    )
    submit.add_argument("--seed", type=int, help="SQS, vacancies and MD seed")
    submit.add_argument(
        "--trajectory-dir",
        help="where trajectories go (default <workdir>/trajectories; every worker sees it)",
    )
    submit.add_argument(
        "--force", action="store_true", help="submit even if the same study is already in the store"
    )
    add_store_options(submit)
    soft = actions.add_parser(
        "soft-mode",
        help="T_C from the soft mode: effective phonons at each temperature, omega^2 of the soft mode extrapolated to zero",
        description="The self-consistent effective phonons (phonons.finite_temperature) of a high-symmetry cell (e.g. cubic "
        "Na3SbS4) at each temperature, from the hot side down; the soft mode's omega_eff^2 against T and the temperature where "
        "its line crosses zero, with the fit's standard error. Prints JSON.",
    )
    soft.add_argument("structure", help="the high-symmetry cell (CIF or POSCAR)")
    soft.add_argument(
        "--temperatures",
        type=temperature_grid,
        default="300:900:100",
        help="START:STOP:STEP or comma-separated K (default 300:900:100)",
    )
    soft.add_argument(
        "--model",
        type=model_name,
        default=SETTINGS.default_model,
        help=f"MLP registry name (default {SETTINGS.default_model})",
    )
    soft.add_argument(
        "--qpoint",
        type=numbers(),
        help="reduced q of the soft mode, e.g. 0.5,0.5,0.5 (default: the harmonic phonons' softest)",
    )
    soft.add_argument("--supercell", help="NxMxK (default: the paper supercell, >= 80 atoms)")
    soft.add_argument(
        "--structures",
        type=number(at_least=1, integer=True),
        default=20,
        help="thermal supercells per iteration (default 20)",
    )
    soft.add_argument(
        "--no-relax",
        action="store_true",
        help="keep the cell as given (default: relaxed with the model in its space group)",
    )
    soft.add_argument(
        "--output",
        type=output_file,
        help="also write the JSON to this file, and the figure of omega^2 against T beside it (.png, .svg)",
    )
    soft.add_argument(
        "--submit",
        action="store_true",
        help="add it to the store for a (GPU) worker instead of running it here; the report draws it",
    )
    soft.add_argument(
        "--force",
        action="store_true",
        help="with --submit: submit even if the same series is in the store",
    )
    add_store_options(soft)
    results = actions.add_parser("results", help="the doped studies' tables")
    results.add_argument(
        "--table",
        choices=["systems", "transport"],
        default="systems",
        help="per system (T_C, D*, D_sigma, H_R, Ea) or per temperature",
    )
    add_table_options(results)
    add_store_options(results)
    return {"doping": cmd_doping}


def cmd_doping(args: argparse.Namespace) -> int:
    """``na-flows doping ACTION``."""
    return {
        "cell": _cell,
        "host": _host,
        "submit": _submit,
        "soft-mode": _soft_mode,
        "results": _results,
    }[args.doping_action](args)


def _output_format(out: Path) -> str:
    if out.suffix.lower() == ".cif":
        return "cif"
    if out.suffix.lower() in (".vasp", ".poscar") or "POSCAR" in out.name:
        return "poscar"
    raise InputError(f"--out {out}: use a .cif, .vasp or POSCAR file name")


def _host(args: argparse.Namespace) -> int:
    from na_lattice_flows.candidates.loaders import load_file
    from na_lattice_flows.doping.cells import parse_dopant
    from na_lattice_flows.doping.hosts import relax_in_space_group, space_group, substituted_host
    from na_lattice_flows.models import get_calculator

    old, new = parse_dopant(args.substitute)
    if args.id:
        loaded = load_file(Path(args.structure))
        found = [c.structure for c in loaded.candidates if c.candidate_id == args.id]
        if not found:
            raise InputError(
                f"--id {args.id}: not among the {len(loaded.candidates)} readable entries of {args.structure}"
            )
        parent = found[0]
    else:
        parent = read_structure_file(args.structure)
    out = Path(args.out)
    fmt = _output_format(out)
    host = substituted_host(parent, old, new)
    if args.relax_model:
        host = relax_in_space_group(host, get_calculator(args.relax_model))
    out.parent.mkdir(parents=True, exist_ok=True)
    host.to(filename=str(out), fmt=fmt)
    print(
        json.dumps(
            {
                "out": str(out),
                "formula": host.composition.reduced_formula,
                "space_group": space_group(host),
                "parent_space_group": space_group(parent),
                "lattice_A": [round(x, 4) for x in host.lattice.abc],
                "relaxed_with": args.relax_model,
            },
            indent=2,
        )
    )
    return 0


def _cell(args: argparse.Namespace) -> int:
    from na_lattice_flows.doping.cells import doped_supercell, parse_dopant, parse_supercell

    dopant, host = parse_dopant(args.dopant)
    supercell = parse_supercell(args.supercell)
    mode = "none" if args.no_vacancies else "only" if args.vacancies_only else "compensate"
    out = Path(args.out)
    fmt = _output_format(out)
    cell = doped_supercell(
        read_structure_file(args.structure), dopant, host, args.fraction, supercell, args.seed, mode
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    cell.structure.to(filename=str(out), fmt=fmt)
    print(
        json.dumps(
            {
                "out": str(out),
                "formula": cell.formula,
                "dopant": dopant,
                "host_site": host,
                "requested_fraction": cell.requested_fraction,
                "achieved_fraction": cell.achieved_fraction,
                "n_host_sites": cell.n_host_sites,
                "n_dopant": cell.n_dopant,
                "n_vacancies": cell.n_vacancies,
                "vacancy_mode": mode,
                "net_charge_e": cell.net_charge_e,
                "n_atoms": len(cell.structure),
                "seed": cell.seed,
                "supercell": list(supercell),
            },
            indent=2,
        )
    )
    return 0


# DopingStudySettings fields -> the `doping submit` options that set them
SUBMIT_FLAGS = {
    "supercell": "--supercell",
    "coarse_temperatures_K": "--temperatures",
    "transport_temperatures_K": "--transport-temperatures",
    "fine_step_K": "--fine-step",
    "seed": "--seed",
}


def _submit(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from na_lattice_flows.checks import validation_message
    from na_lattice_flows.doping.cells import parse_dopant, parse_supercell
    from na_lattice_flows.doping.flow import DopedPhaseStudyMaker
    from na_lattice_flows.execution.submission import add_flow

    dopant, host = parse_dopant(args.dopant)
    if args.preset is None:
        args.preset = "paper"
        print(
            "preset paper (the study's 12x12x12 cells, 27,648 atoms of Na3SbS4: for GPU workers); "
            "--preset short runs on 2 CPU cores",
            file=sys.stderr,
        )
    overrides = {
        "supercell": parse_supercell(args.supercell) if args.supercell else None,
        "coarse_temperatures_K": _fractions(args.temperatures) if args.temperatures else None,
        "transport_temperatures_K": _fractions(args.transport_temperatures)
        if args.transport_temperatures
        else None,
        "fine_step_K": args.fine_step,
        "seed": args.seed,
    }
    settings = store_settings(args)
    try:
        maker = DopedPhaseStudyMaker(
            model=args.model,
            dopant=dopant,
            host_site=host,
            fractions=_fractions(args.fractions),
            preset=args.preset,
            overrides={k: v for k, v in overrides.items() if v is not None},
            controls=not args.no_controls,
            trajectory_dir=args.trajectory_dir or str(SETTINGS.trajectory_folder(settings.workdir)),
        )
    except ValidationError as exc:  # the study's settings, under the options that set them
        raise InputError(validation_message(exc, SUBMIT_FLAGS)) from None
    structure = read_structure_file(args.structure)
    study_id = maker.study_id(structure)
    with open_session(settings) as session:
        existing = session.launchpad.workflows.find_one(
            {"metadata.study_id": study_id}, {"nodes": 1, "state": 1}
        )
        if existing and not args.force:
            print(
                f"already submitted: study {study_id} (workflow {min(existing['nodes'])}, {existing['state']}); use --force to resubmit"
            )
            return EXIT_NOTHING_SUBMITTED
        flow = maker.make(structure)
        fw_id = add_flow(
            session,
            flow,
            f"doping {study_id}",
            {
                "study": "doping",
                "study_id": study_id,
                "formula": structure.composition.reduced_formula,
            },
        )
    systems = ", ".join(name for name, _, _ in maker.systems())
    print(
        f"Submitted doped study {study_id} (workflow {fw_id}, {len(flow.jobs)} jobs; systems: {systems}). Run it with `na-flows run`."
    )
    return 0


def _soft_mode(args: argparse.Namespace) -> int:
    """Run the soft-mode series here and print it, or (``--submit``) add it for a worker and say so."""
    from na_lattice_flows.doping.cells import parse_supercell
    from na_lattice_flows.doping.soft_mode_jobs import soft_mode_series

    if args.qpoint is not None and len(args.qpoint) != 3:
        raise InputError(
            f"--qpoint {args.qpoint}: give three reduced coordinates, e.g. 0.5,0.5,0.5"
        )
    output = args.output  # checked as parsed (cli.options.output_file)
    structure = read_structure_file(args.structure)
    matrix = None
    if args.supercell:
        n = parse_supercell(args.supercell)
        matrix = [[n[0], 0, 0], [0, n[1], 0], [0, 0, n[2]]]
    arguments = {
        "structure": structure,
        "name": Path(args.structure).stem,
        "model": args.model,
        "temperatures_K": args.temperatures,
        "qpoint": args.qpoint,
        "supercell_matrix": matrix,
        "structures_per_iteration": args.structures,
        "relax": not args.no_relax,
    }
    if args.submit:
        return _submit_soft_mode(args, soft_mode_series(**arguments))
    document = soft_mode_series.original(**arguments)
    text = json.dumps({"structure": args.structure, **document.model_dump()}, indent=2)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        from na_lattice_flows.analysis.temperature_stability import soft_mode_figure

        output.write_text(text + "\n")
        soft_mode_figure(document.model_dump(), document.formula, output.parent, output.stem)
    print(text)
    return 0


def _submit_soft_mode(args: argparse.Namespace, series) -> int:
    import hashlib

    from na_lattice_flows.execution.submission import add_flow

    key = json.dumps(
        {k: v for k, v in series.function_kwargs.items() if k != "structure"}
        | {"structure": series.function_kwargs["structure"].as_dict()},
        sort_keys=True,
        default=str,
    )
    study_id = "soft-mode-" + hashlib.sha1(key.encode()).hexdigest()[:10]
    series.name = f"soft mode {series.function_kwargs['name']} ({args.model})"
    with open_session(store_settings(args)) as session:
        existing = session.launchpad.workflows.find_one(
            {"metadata.study_id": study_id}, {"nodes": 1, "state": 1}
        )
        if existing and not args.force:
            print(
                f"already submitted: {study_id} (workflow {min(existing['nodes'])}, {existing['state']}); use --force to resubmit"
            )
            return EXIT_NOTHING_SUBMITTED
        fw_id = add_flow(session, series, series.name, {"study": "soft-mode", "study_id": study_id})
    print(
        f"Submitted soft-mode series {study_id} (workflow {fw_id}, {len(args.temperatures)} temperatures). Run it with `na-flows run`; "
        "`na-flows report` draws it."
    )
    return 0


def _results(args: argparse.Namespace) -> int:
    import pandas as pd

    from na_lattice_flows.execution.queries import doped_study_documents

    with open_session(store_settings(args, existing=True), read_only=True) as session:
        studies = doped_study_documents(session)
    key = "table" if args.table == "systems" else "transport_table"
    rows = [
        {"study_id": study["study_id"], "model": study["model"], **row}
        for study in studies
        for row in study[key]
    ]
    write_table(pd.DataFrame(rows), args.format, args.output)
    return 0
