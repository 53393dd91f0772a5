"""The ``na-flows`` command: demo, submit, run, status, results, report, predict and the single-structure tools."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd

from na_lattice_flows.candidates import CandidateInputError, LoadResult, load_candidates
from na_lattice_flows.models import UnknownModelError
from na_lattice_flows.references import ReferenceError
from na_lattice_flows.stores import StoreConfigError, StoreSettings, open_session, resolve_settings


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir",
        help="embedded store and run folders (default: $NA_FLOWS_WORKDIR or ./na_flows_work)",
    )
    parser.add_argument(
        "--mongodb-uri",
        help="use this MongoDB instead of the embedded store (default: $NA_FLOWS_MONGODB_URI or launchpad/na_flows.yaml)",
    )


def _add_screen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="chgnet", help="MLP for relaxation, phonons and MD (a registry name, e.g. chgnet, 7net-0, fairchem:/path.pt)")
    parser.add_argument(
        "--relax-engine", default="mlp", choices=["mlp", "gpaw", "vasp"],
        help="relaxation by the MLP, GPAW (local DFT) or VASP (atomate2 strict double relax through custodian; CPU workers)",
    )  # fmt: skip
    parser.add_argument("--fmax", type=float, default=0.01, help="relaxation force threshold, eV/A (default 0.01)")
    parser.add_argument("--max-sites", type=int, default=200, help="largest unit cell screened (default 200 atoms)")
    parser.add_argument("--allow-disordered", action="store_true", help="keep structures with partial occupancies")
    parser.add_argument("--no-dedup", action="store_true", help="skip StructureMatcher deduplication")
    parser.add_argument("--min-supercell-atoms", type=int, default=80, help="paper supercell size (default 80)")
    parser.add_argument("--force", action="store_true", help="resubmit candidates that already have a workflow")
    parser.add_argument("--no-phonons", action="store_true", help="stop each flow after the relaxation")
    parser.add_argument("--phonon-supercells", type=int, default=30, help="random-displacement supercells (default 30)")
    parser.add_argument("--fc-method", default="symfc", choices=["symfc", "hiphive", "pheasy"], help="force-constant fit (default symfc)")
    parser.add_argument(
        "--third-order", choices=["symfc", "hiphive", "pheasy"], help="also fit third-order force constants with this method"
    )
    parser.add_argument("--temperature", type=float, default=800.0, help="K, for the MSD descriptors (default 800)")
    parser.add_argument("--no-md", action="store_true", help="leave out the MD step")
    parser.add_argument("--md-preset", default="paper", choices=["paper", "short"], help="MD preset (demo: short)")
    parser.add_argument(
        "--md-temperatures", default="800", help="K, comma-separated; two or more add an Arrhenius fit (default 800)"
    )
    parser.add_argument("--md-production-steps", type=int, help="override the preset's production steps")
    parser.add_argument("--md-equilibration-steps", type=int, help="override the preset's equilibration steps")
    parser.add_argument(
        "--md-engine", default="ase", choices=["ase", "torchsim"],
        help="ase: one run per job; torchsim: a structure's temperature series batched in one job (SevenNet/UMA models)",
    )  # fmt: skip
    parser.add_argument("--trajectory-dir", help="where MD trajectories go (default: <workdir>/trajectories; shared by all workers)")
    parser.add_argument("--elastic", action="store_true", help="add the elastic moduli (atomate2's elastic flow with the MLP)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="na-flows",
        description="Screen Na-containing crystals for superionic conduction (jobflow + FireWorks).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="screen and relax the built-in demo set now, then show results")
    _add_store_options(demo)
    _add_screen_options(demo)
    demo.set_defaults(md_preset="short")

    submit = commands.add_parser("submit", help="screen candidates and add their flows to the LaunchPad")
    submit.add_argument("inputs", nargs="*", help="CSV tables, JSON lists, CIF/POSCAR files or folders")
    submit.add_argument("--optimade", choices=["oqmd", "mp"], help="also query this OPTIMADE provider (online)")
    _add_store_options(submit)
    _add_screen_options(submit)

    run = commands.add_parser("run", help="launch ready jobs on this machine until none is left")
    run.add_argument("--max-jobs", type=int, help="stop after this many jobs")
    run.add_argument(
        "--fworker", help="a FireWorks worker file: take only its categories (fworker_configs/gpu_worker.yaml, cpu_worker.yaml)"
    )
    _add_store_options(run)

    files = commands.add_parser(
        "worker-files",
        help="write my_launchpad.yaml and jobflow.yaml for rlaunch/qlaunch on the configured store",
        description="FireWorks' and jobflow's configuration files for plain rlaunch/qlaunch/lpad on the store na-flows "
        "uses (MongoDB URI with its authentication, TLS and replica-set options, or the embedded store). Written "
        "readable by you only: a URI may hold a password.",
    )
    files.add_argument("--out", default=".", help="folder to write them into (default: here)")
    _add_store_options(files)

    status = commands.add_parser("status", help="count jobs per state")
    _add_store_options(status)

    bench = commands.add_parser(
        "benchmark-forces",
        help="MLP vs DFT forces, force constants and stability on displaced supercells",
        description="Evaluate MLPs on DFT force references: phononDB archives or folders, or phonopy.yaml / "
        "phonopy_disp.yaml with FORCE_SETS. Prints per-model force RMSE/MAE, IFC2 RMSE and stability agreement.",
    )
    bench.add_argument("references", nargs="+", help="phononDB archives/folders or phonopy yaml files")
    bench.add_argument("--models", default="chgnet", help="comma-separated registry names (default chgnet)")
    bench.add_argument("--json", action="store_true", help="print the full result as JSON")
    bench.add_argument("--output", help="also write the JSON to this file")
    bench.add_argument(
        "--submit", action="store_true", help="add the benchmark as a flow to the LaunchPad instead of running it here"
    )
    _add_store_options(bench)

    phonons = commands.add_parser(
        "phonons",
        help="dynamic stability and lattice-dynamics descriptors from phonopy data",
        description="Fit force constants to a phonopy data set (phononDB archive or folder, or phonopy.yaml / "
        "phonopy_disp.yaml with FORCE_SETS) and print the stability verdict and the Na descriptors.",
    )
    phonons.add_argument("path", help="phononDB archive/folder or phonopy yaml file")
    phonons.add_argument("--temperature", type=float, default=800.0, help="K (default 800)")
    phonons.add_argument("--low-freq-cutoff", type=float, default=1.5, help="THz, for the low-frequency shares (default 1.5)")
    phonons.add_argument(
        "--fc-method", choices=["phonopy", "symfc", "hiphive", "pheasy"],
        help="force-constant fit (default: phonopy for finite displacements, symfc for random ones)",
    )
    phonons.add_argument("--json", action="store_true", help="print JSON")

    diffusion = commands.add_parser(
        "diffusion",
        help="MSD, diffusion coefficients, melt filter, VDOS and kinisi D of an MD trajectory",
        description="Transport analysis of a trajectory: ASE .traj, extended XYZ, XDATCAR, vasprun.xml, pymatgen "
        "Trajectory .json or our .h5. D = slope/(2n) by a zero-intercept fit of the all-origins MSD.",
    )
    diffusion.add_argument("trajectory")
    diffusion.add_argument("--species", default="Na", help="mobile species (default Na)")
    diffusion.add_argument("--temperature", type=float, help="K (for the conductivity; read from the file when it says)")
    diffusion.add_argument("--timestep-fs", type=float, help="MD time step, fs (needed where the file does not say)")
    diffusion.add_argument("--stride", type=int, help="MD steps between stored frames (default: from the file, else 1)")
    diffusion.add_argument("--fit-window", default="0.1,0.5", help="fit range as fractions of the run (default 0.1,0.5)")
    diffusion.add_argument("--no-kinisi", action="store_true", help="skip kinisi's Bayesian D (tens of seconds)")
    diffusion.add_argument("--density", help="write the species' probability density to this CHGCAR file")
    diffusion.add_argument("--json", action="store_true", help="print JSON")

    results = commands.add_parser("results", help="one row per structure: state, relaxed energy, supercell, error")
    results.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table",
                         help="table: the main columns on screen; csv, json, parquet (needs --output): every column")
    results.add_argument("--output", help="write to this file instead of the screen")
    results.add_argument("--rejected", action="store_true", help="list the structures the screen dropped instead")
    results.add_argument("--failed", action="store_true", help="list the failed jobs with their errors instead")
    stable = results.add_mutually_exclusive_group()
    stable.add_argument("--stable", dest="dynamically_stable", action="store_true", default=None, help="only dynamically stable structures")
    stable.add_argument("--unstable", dest="dynamically_stable", action="store_false", help="only dynamically unstable structures")
    melted = results.add_mutually_exclusive_group()
    melted.add_argument("--melted", dest="melted", action="store_true", default=None, help="only structures whose MD melted")
    melted.add_argument("--not-melted", dest="melted", action="store_false", help="only structures whose MD stayed solid")
    results.add_argument("--min-d", type=float, help="only D >= this, A^2/ps")
    results.add_argument("--d-column", choices=["avg", "max", "kinisi"], default="avg", help="which D --min-d reads (default avg)")
    results.add_argument("--campaign", help="only this campaign id")
    results.add_argument("--state", help="only workflows in this state (COMPLETED, FIZZLED, RUNNING, ...)")
    _add_store_options(results)

    report = commands.add_parser(
        "report",
        help="write the analysis report (HTML, tables, figures, D model)",
        description="One self-contained HTML page (figures embedded, sortable tables, top candidates, failures and why) "
        "in OUT/index.html, with each campaign's table as CSV and Parquet, correlations.csv, the figures as PNG and SVG "
        "and the trained D models (joblib) beside it. Sections without enough data say what they could not compute.",
    )
    report.add_argument("--out", required=True, help="folder to write the report into")
    report.add_argument("--campaign", help="only this campaign id (default: every structure in the store)")
    report.add_argument("--top", type=int, default=10, help="how many top candidates to list (default 10)")
    report.add_argument("--dispersions", type=int, default=3, help="dispersion figures for this many top structures (default 3)")
    _add_store_options(report)

    predict = commands.add_parser(
        "predict",
        help="rank candidates by D predicted from their phonon descriptors",
        description="Rank dynamically stable structures with phonon descriptors by the log10 D a trained model "
        "(`na-flows report` writes diffusion_model.joblib) predicts, so that MD goes to the most promising first. "
        "Reads the store's structures (by default those without MD yet), or a table exported by `results`/`report`.",
    )
    predict.add_argument("--model", required=True, help="a diffusion_model.joblib written by `na-flows report`")
    predict.add_argument("--table", help="rank the rows of this CSV or Parquet table instead of the store's")
    predict.add_argument("--campaign", help="only this campaign id")
    predict.add_argument("--all", action="store_true", help="include structures that already have D from MD")
    predict.add_argument("--format", choices=["table", "csv", "json"], default="table")
    predict.add_argument("--output", help="write to this file instead of the screen")
    _add_store_options(predict)

    recover = commands.add_parser(
        "recover",
        help="rerun jobs whose worker died",
        description="Put jobs left RUNNING by a dead worker back in the queue (an MD job resumes from its checkpoint). "
        "Embedded store: every running job is lost (`na-flows run` does this itself). MongoDB: jobs whose worker has "
        "not pinged for --expiration-hours (FireWorks' detect_lostruns).",
    )
    recover.add_argument("--expiration-hours", type=float, default=4.0, help="MongoDB: silence after which a run is lost (default 4)")
    _add_store_options(recover)
    return parser


def _settings(args: argparse.Namespace) -> StoreSettings:
    return resolve_settings(workdir=args.workdir, mongodb_uri=args.mongodb_uri)


def _flow_maker(args: argparse.Namespace):
    from na_lattice_flows.api import screening_maker

    return screening_maker(
        model=args.model, relax_engine=args.relax_engine, fmax=args.fmax, phonons=not args.no_phonons,
        phonon_supercells=args.phonon_supercells, fc_method=args.fc_method, third_order=args.third_order,
        temperature_K=args.temperature, md=not args.no_md, md_preset=args.md_preset,
        md_temperatures=[float(t) for t in str(args.md_temperatures).split(",") if t.strip()],
        md_overrides={"n_production_steps": args.md_production_steps, "n_equilibration_steps": args.md_equilibration_steps},
        md_engine=args.md_engine, trajectory_dir=args.trajectory_dir or _settings(args).workdir / "trajectories",
        min_supercell_atoms=args.min_supercell_atoms, elastic=args.elastic,
    )  # fmt: skip


def _screen_and_submit(args: argparse.Namespace, loaded: LoadResult, inputs: list[str]) -> None:
    from na_lattice_flows.execution import submit_candidates
    from na_lattice_flows.screening import ScreeningCriteria, screen_candidates

    criteria = ScreeningCriteria(
        max_sites=args.max_sites, allow_disordered=args.allow_disordered, deduplicate=not args.no_dedup
    )
    report = screen_candidates(loaded, criteria)
    settings = _settings(args)
    with open_session(settings) as session:
        record = submit_candidates(session, report, inputs, flow_maker=_flow_maker(args), force=args.force)
    print(f"Store: {settings.describe()}")
    print(f"Campaign {record.campaign_id}: {len(record.submitted)} flows submitted, {len(record.rejections)} structures not submitted")
    for rejection in record.rejections:
        print(f"  - {rejection.candidate_id} ({rejection.source}): {rejection.reason}")


def cmd_demo(args: argparse.Namespace) -> int:
    from na_lattice_flows.demo_set import demo_candidates

    print("Screening and relaxing the built-in demo set (NaCl, Na2S, Na3OCl, cubic Na3PS4, cubic Na3SbS4)")
    _screen_and_submit(args, LoadResult(candidates=demo_candidates()), ["built-in demo set"])
    cmd_run(args)
    args.format, args.output, args.rejected, args.failed = "table", None, False, False
    args.dynamically_stable = args.melted = args.min_d = args.campaign = args.state = None
    args.d_column = "avg"
    cmd_results(args)
    args.out, args.top, args.dispersions = str(_settings(args).workdir / "report"), 10, 3
    return cmd_report(args)


def cmd_submit(args: argparse.Namespace) -> int:
    if not args.inputs and not args.optimade:
        raise CandidateInputError("submit: name at least one input (CSV, JSON, CIF/POSCAR, folder) or --optimade")
    loaded = load_candidates(args.inputs) if args.inputs else LoadResult()
    inputs = list(args.inputs)
    if args.optimade:
        from na_lattice_flows.optimade import query_optimade

        loaded.extend(query_optimade(args.optimade, max_sites=args.max_sites))
        inputs.append(f"optimade:{args.optimade}")
    _screen_and_submit(args, loaded, inputs)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from fireworks import FWorker

    from na_lattice_flows.execution import fw_state_counts, run_ready_jobs

    fworker = FWorker.from_file(args.fworker) if getattr(args, "fworker", None) else None
    with open_session(_settings(args)) as session:
        launched = run_ready_jobs(session, fworker=fworker, max_jobs=getattr(args, "max_jobs", None), job_logs=not args.verbose)
        counts = fw_state_counts(session)
    print(f"Launched {launched} jobs; job states now: {_format_counts(counts)}")
    return 0


def _format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "no jobs"


def cmd_status(args: argparse.Namespace) -> int:
    from na_lattice_flows.execution import fw_state_counts
    from na_lattice_flows.results import failures_table

    settings = _settings(args)
    with open_session(settings) as session:
        counts = fw_state_counts(session)
        n_workflows = session.launchpad.workflows.count_documents({})
        failures = failures_table(session)
    print(f"Store: {settings.describe()}")
    print(f"{n_workflows} structures (workflows); jobs: {_format_counts(counts)}")
    if not failures.empty:
        print(f"{len(failures)} failed jobs (tracebacks: na-flows results --failed --format json):")
        for row in failures.itertuples():
            print(f"  - {row.candidate_id} {row.job!r} (fw {row.fw_id}): {row.error}")
    return 0


def cmd_worker_files(args: argparse.Namespace) -> int:
    from na_lattice_flows.stores import write_worker_files

    settings = _settings(args)
    written = write_worker_files(settings, Path(args.out))
    print(f"Wrote {', '.join(str(path) for path in written)} for {settings.describe()}; then:")
    print(f"  export JOBFLOW_CONFIG_FILE={written[1].resolve()}")
    print(f"  rlaunch -l {written[0].resolve()} -w fworker_configs/gpu_worker.yaml rapidfire")
    if settings.mode == "embedded":
        print("  (embedded store: one process at a time; `na-flows run --fworker ...` does the same with locking)")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from na_lattice_flows.execution import recover_lost_runs

    with open_session(_settings(args)) as session:
        lost = recover_lost_runs(session, expiration_secs=args.expiration_hours * 3600)
    print(f"{len(lost)} lost jobs put back in the queue")
    for run in lost:
        print(f"  - {run.name} (fw {run.fw_id}), was running on {run.host} in {run.launch_dir}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from na_lattice_flows.results import MAIN_COLUMNS, failures_table, query_results, rejections_table

    with open_session(_settings(args)) as session:
        if args.rejected:
            table = rejections_table(session)
        elif args.failed:
            table = failures_table(session)
            if args.format == "table":
                table = table.drop(columns=["traceback", "launch_dir"])
        else:
            table = query_results(
                session, dynamically_stable=args.dynamically_stable, melted=args.melted, min_D_A2_per_ps=args.min_d,
                D_column=f"D_{args.d_column}_A2_per_ps", campaign_id=args.campaign, state=args.state,
            )  # fmt: skip
        if args.format == "table" and not (args.rejected or args.failed):
            table = table[[*MAIN_COLUMNS, "error"]]  # the whole table: --format csv/json/parquet
    _write(table, args.format, args.output)
    return 0


def _write(table: pd.DataFrame, fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE.parquet")
        from na_lattice_flows.analysis import export_table

        export_table(table, Path(output).with_suffix(".parquet"))
    elif output:
        Path(output).write_text(_render(table, fmt))
    else:
        print(_render(table, fmt))
        return
    print(f"Wrote {len(table)} rows to {output}")


def cmd_report(args: argparse.Namespace) -> int:
    from na_lattice_flows.report import build_report

    with open_session(_settings(args)) as session:
        report = build_report(session, args.out, campaign_id=args.campaign, n_top=args.top, n_dispersions=args.dispersions)
    print(f"Report: {report.path} ({len(report.figures) // 2} figures, {len(report.tables) // 2} campaign tables, "
          f"{len(report.model_paths)} D models)")  # fmt: skip
    for reason in report.cannot_compute:
        print(f"  not computed: {reason}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from na_lattice_flows.analysis import dataset
    from na_lattice_flows.ml import DiffusionModel, rank_candidates
    from na_lattice_flows.results import results_table

    model = DiffusionModel.load(args.model)
    if args.table:
        path = Path(args.table)
        if not path.is_file():
            raise FileNotFoundError(f"--table {path}: no such file")
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    else:
        with open_session(_settings(args)) as session:
            table = results_table(session)
    if args.campaign:
        table = table[table["campaign_id"] == args.campaign]
    table = dataset(table) if "usable_for_D" not in table.columns else table
    if not args.all:
        table = table[pd.to_numeric(table["D_avg_A2_per_ps"], errors="coerce").isna()]
    ranking = rank_candidates(model, table.reset_index(drop=True))
    print(f"Model: {model.best} on {len(model.features)} features, grouped-CV R2 {model.scores[model.best].r2:.2f}, "
          f"trained on {model.n_structures} structures ({model.n_systems} chemical systems)", file=sys.stderr)  # fmt: skip
    _write(ranking, args.format, args.output)
    return 0


def _render(table: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=2)
    if table.empty:
        return "(no rows)"
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        return table.to_string(index=False, float_format=lambda x: f"{x:.4f}")


def cmd_benchmark_forces(args: argparse.Namespace) -> int:
    from na_lattice_flows.force_benchmark import benchmark_references, summary_json
    from na_lattice_flows.models import resolve_model

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for model in models:
        resolve_model(model)  # unknown names fail here, before any work
    if args.submit:
        return _submit_benchmark(args, models)
    with contextlib.redirect_stdout(sys.stderr):  # model packages print banners; stdout carries only the result
        summary, failures = benchmark_references(args.references, models, progress=not args.json)
    result = summary_json(summary, failures)
    text = json.dumps(result, indent=2)
    if args.output:
        Path(args.output).write_text(text)
    if args.json:
        print(text)
    else:
        table = pd.DataFrame.from_dict(result["models"], orient="index")
        print(_render(table.reset_index(names="model"), "table"))
        print(f"chosen model: {result['chosen_model']}")
        for failure in failures:
            print(f"  failed: {failure['reference']} {failure['model'] or ''}: {failure['error']}")
    return 0 if summary is not None else 1


def cmd_phonons(args: argparse.Namespace) -> int:
    from na_lattice_flows.force_benchmark import dynamic_stability
    from na_lattice_flows.force_constants import fit_force_constants
    from na_lattice_flows.phonons import phonon_descriptors
    from na_lattice_flows.references import load_reference

    reference = load_reference(args.path)
    ph = fit_force_constants(reference, method=args.fc_method)
    verdict = dynamic_stability(ph)
    descriptors, _ = phonon_descriptors(ph, temperature_k=args.temperature, low_freq_cutoff_thz=args.low_freq_cutoff)
    descriptors.dynamically_stable = verdict.dynamically_stable
    descriptors.min_frequency_thz = verdict.min_frequency_thz
    result = {"structure": reference.name, "formula": reference.unitcell.composition.reduced_formula,
              **descriptors.model_dump(), "min_frequency_qpoint": verdict.min_frequency_qpoint}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key not in ("msd_per_site_A2", "site_species"):
                print(f"{key:32s} {value:.5g}" if isinstance(value, float) else f"{key:32s} {value}")
    return 0


def cmd_diffusion(args: argparse.Namespace) -> int:
    from na_lattice_flows.trajectory_io import read_trajectory
    from na_lattice_flows.transport import analyze_trajectory, probability_density_chgcar

    try:
        window = tuple(float(x) for x in args.fit_window.split(","))
    except ValueError:
        raise CandidateInputError(f"--fit-window: expected two fractions like 0.1,0.5; got {args.fit_window!r}") from None
    trajectory = read_trajectory(args.trajectory, args.timestep_fs, args.stride, args.temperature)
    analysis, _ = analyze_trajectory(trajectory, args.species, window, use_kinisi=not args.no_kinisi)
    result = {
        "trajectory": args.trajectory,
        "species": args.species,
        "n_frames": analysis.n_frames,
        "duration_ps": analysis.duration_ps,
        "D_avg_A2_per_ps": analysis.D_avg_A2_per_ps,
        "D_max_A2_per_ps": analysis.D_max_A2_per_ps,
        "D_xyz_A2_per_ps": analysis.D_xyz_A2_per_ps,
        "melted": analysis.melted,
        "melted_reason": analysis.melted_reason,
        "conductivity_mS_per_cm": analysis.conductivity_mS_per_cm,
        "na_vdos_center_thz": analysis.na_vdos_center_thz,
        "kinisi_D_A2_per_ps": analysis.kinisi.D_A2_per_ps if analysis.kinisi else None,
        "kinisi_D_interval_A2_per_ps": analysis.kinisi.D_interval_A2_per_ps if analysis.kinisi else None,
        "kinisi_D_jump_A2_per_ps": analysis.kinisi.D_jump_A2_per_ps if analysis.kinisi else None,
        "haven_ratio": analysis.kinisi.haven_ratio if analysis.kinisi else None,
        "elements": {name: element.model_dump() for name, element in analysis.elements.items()},
    }
    if args.density:
        result["density_chgcar"] = probability_density_chgcar(trajectory, args.density, args.species)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "elements":
                print(f"{key:30s} {value:.5g}" if isinstance(value, float) else f"{key:30s} {value}")
    return 0


def _submit_benchmark(args: argparse.Namespace, models: list[str]) -> int:
    from na_lattice_flows.benchmark_jobs import ForceBenchmarkMaker
    from na_lattice_flows.execution import add_flow

    missing = [r for r in args.references if not Path(r).exists()]
    if missing:
        raise CandidateInputError(f"benchmark-forces: no such reference: {', '.join(missing)}")
    flow = ForceBenchmarkMaker(models=tuple(models)).make(args.references)
    settings = _settings(args)
    with open_session(settings) as session:
        add_flow(session, flow, "mlp force benchmark", {"kind": "mlp force benchmark", "models": models})
    print(f"Submitted the force benchmark ({len(args.references)} references x {len(models)} models) to {settings.describe()}; "
          "launch it with `na-flows run` or rlaunch")
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "submit": cmd_submit,
    "run": cmd_run,
    "status": cmd_status,
    "recover": cmd_recover,
    "worker-files": cmd_worker_files,
    "results": cmd_results,
    "report": cmd_report,
    "predict": cmd_predict,
    "benchmark-forces": cmd_benchmark_forces,
    "phonons": cmd_phonons,
    "diffusion": cmd_diffusion,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].setLevel(level)  # libraries (FireWorks) set their own loggers to DEBUG
    if not args.verbose:
        warnings.filterwarnings("ignore")
    try:
        return COMMANDS[args.command](args)
    except (CandidateInputError, StoreConfigError, UnknownModelError, ReferenceError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"na-flows {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
