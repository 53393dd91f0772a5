"""Single-structure and single-file tools: benchmark-forces, benchmark-frames, phonons, diffusion."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys

from na_lattice_flows.cli.common import (
    add_store_options,
    open_session,
    render_table,
    store_settings,
)
from na_lattice_flows.cli.options import output_file
from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import SETTINGS


def add_commands(commands) -> dict:
    """Add this group's subcommands; returns command name -> handler."""
    bench = commands.add_parser(
        "benchmark-forces",
        help="MLP vs DFT forces, force constants and stability on displaced supercells",
        description="Evaluate MLPs on DFT force references: phononDB archives or folders, or phonopy.yaml / "
        "phonopy_disp.yaml with FORCE_SETS. Prints per-model force RMSE/MAE, IFC2 RMSE and stability agreement.",
    )
    bench.add_argument(
        "references", nargs="+", help="phononDB archives/folders or phonopy yaml files"
    )
    bench.add_argument(
        "--models",
        default=SETTINGS.default_model,
        help=f"comma-separated registry names (default {SETTINGS.default_model})",
    )
    bench.add_argument("--json", action="store_true", help="print the full result as JSON")
    bench.add_argument("--output", type=output_file, help="also write the JSON to this file")
    bench.add_argument(
        "--submit",
        action="store_true",
        help="add the benchmark as a flow to the LaunchPad instead of running it here (its ranking: "
        "na-flows results --benchmarks, and the report)",
    )
    bench.add_argument(
        "--force",
        action="store_true",
        help="--submit the same references and models again (otherwise refused: nothing is added)",
    )
    add_store_options(bench)

    frames = commands.add_parser(
        "benchmark-frames",
        help="MLP vs DFT forces (energy, stress) on random frames of AIMD trajectories",
        description="Evaluate MLPs on frames that carry DFT forces: our GPAW AIMD .h5, VASP vasprun.xml or OUTCAR "
        "(an XDATCAR through the OUTCAR beside it), extended XYZ or ASE .traj. --frames frames are drawn at random "
        "(seeded) from each file; force RMSE/MAE overall and per element, and energy per atom and stress where the "
        "frames carry them.",
    )
    frames.add_argument("files", nargs="+", help="trajectory files with DFT forces")
    frames.add_argument(
        "--models",
        default=SETTINGS.default_model,
        help=f"comma-separated registry names (default {SETTINGS.default_model})",
    )
    frames.add_argument(
        "--frames",
        type=int,
        default=200,
        help="frames drawn per file (default 200; all when fewer)",
    )
    frames.add_argument("--seed", type=int, default=0, help="seed of the frame draw (default 0)")
    frames.add_argument("--json", action="store_true", help="print the full result as JSON")
    frames.add_argument("--output", type=output_file, help="also write the JSON to this file")

    phonons = commands.add_parser(
        "phonons",
        help="dynamic stability and lattice-dynamics descriptors from phonopy data",
        description="Fit force constants to a phonopy data set (phononDB archive or folder, or phonopy.yaml / "
        "phonopy_disp.yaml with FORCE_SETS) and print the stability verdict and the Na descriptors.",
    )
    phonons.add_argument("path", help="phononDB archive/folder or phonopy yaml file")
    phonons.add_argument(
        "--temperature",
        type=float,
        default=SETTINGS.temperature_K,
        help=f"K (default {SETTINGS.temperature_K:g})",
    )
    phonons.add_argument(
        "--low-freq-cutoff",
        type=float,
        default=1.5,
        help="THz, for the low-frequency shares (default 1.5)",
    )
    phonons.add_argument(
        "--fc-method",
        choices=["phonopy", "symfc", "hiphive", "pheasy"],
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
    diffusion.add_argument(
        "--temperature",
        type=float,
        help="K (for the conductivity; read from the file when it says)",
    )
    diffusion.add_argument(
        "--timestep-fs", type=float, help="MD time step, fs (needed where the file does not say)"
    )
    diffusion.add_argument(
        "--stride", type=int, help="MD steps between stored frames (default: from the file, else 1)"
    )
    diffusion.add_argument(
        "--fit-window",
        default="0.1,0.5",
        help="fit range as fractions of the run (default 0.1,0.5)",
    )
    diffusion.add_argument(
        "--no-kinisi", action="store_true", help="skip kinisi's Bayesian D (tens of seconds)"
    )
    diffusion.add_argument(
        "--density", help="write the species' probability density to this CHGCAR file"
    )
    diffusion.add_argument("--json", action="store_true", help="print JSON")

    return {
        "benchmark-forces": cmd_benchmark_forces,
        "benchmark-frames": cmd_benchmark_frames,
        "phonons": cmd_phonons,
        "diffusion": cmd_diffusion,
    }


def _registry_models(text: str) -> list[str]:
    """Comma-separated model names, each checked against the registry before any work (unknown: a usage error)."""
    from na_lattice_flows.models import resolve_model

    models = [m.strip() for m in text.split(",") if m.strip()]
    if not models:
        raise InputError(f"--models {text!r}: give at least one model name, e.g. 7net-0,chgnet")
    for model in models:
        resolve_model(model)
    return models


def cmd_benchmark_forces(args: argparse.Namespace) -> int:
    """``na-flows benchmark-forces``: models against DFT forces, force constants and verdicts of
    references."""
    import pandas as pd

    from na_lattice_flows.benchmark.forces import benchmark_references, summary_json
    from na_lattice_flows.phonons.references import reference_path_problem

    models = _registry_models(args.models)
    problems = [p for p in map(reference_path_problem, args.references) if p is not None]
    if problems:
        raise InputError("benchmark-forces: " + "; ".join(problems))
    if args.submit:
        return _submit_benchmark(args, models)
    # model packages print banners; stdout carries only the result
    with contextlib.redirect_stdout(sys.stderr):
        summary, failures = benchmark_references(args.references, models, progress=not args.json)
    result = summary_json(summary, failures)
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    if args.json:
        print(text)
    else:
        table = pd.DataFrame.from_dict(result["models"], orient="index")
        print(render_table(table.reset_index(names="model"), "table"))
        print(f"chosen model: {result['chosen_model']}")
        for failure in failures:
            print(f"  failed: {failure['reference']} {failure['model'] or ''}: {failure['error']}")
    return 0 if summary is not None else 1


def cmd_benchmark_frames(args: argparse.Namespace) -> int:
    """``na-flows benchmark-frames``: models against the forces, energies and stresses of labelled
    frames."""
    import pandas as pd

    from na_lattice_flows.benchmark.frames import benchmark_frames, frame_benchmark_json
    from na_lattice_flows.benchmark.labelled_frames import read_labelled_frames

    models = _registry_models(args.models)
    if args.frames < 1:
        raise InputError(f"--frames {args.frames}: must be at least 1")
    # every file read before any model loads: a missing one, or one whose frames carry no forces, is named now
    frames_read, problems = {}, []
    for path in args.files:
        try:
            frames_read[path] = read_labelled_frames(path)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError("benchmark-frames: " + "; ".join(problems))
    # model packages print banners; stdout carries only the result
    with contextlib.redirect_stdout(sys.stderr):
        result = benchmark_frames(
            args.files,
            models,
            n_frames=args.frames,
            seed=args.seed,
            progress=not args.json,
            frames_read=frames_read,
        )
    payload = frame_benchmark_json(result)
    text = json.dumps(payload, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    if args.json:
        print(text)
    else:
        columns = [
            "force_rmse_meV_per_A",
            "force_mae_meV_per_A",
            "energy_rmse_meV_per_atom",
            "energy_rmse_offset_removed_meV_per_atom",
            "stress_rmse_GPa",
            "n_frames",
            "seconds_per_frame",
        ]
        table = pd.DataFrame.from_dict(payload["models"], orient="index").reindex(columns=columns)
        print(render_table(table.reset_index(names="model"), "table"))
        for model, metrics in payload["models"].items():
            per_element = ", ".join(
                f"{el} {v:.1f}" for el, v in metrics["force_rmse_per_element_meV_per_A"].items()
            )
            print(f"{model}: force RMSE per element (meV/A): {per_element}")
        for failure in result.failures:
            print(f"  failed: {failure['source']} {failure['model'] or ''}: {failure['error']}")
    return 0 if result.models else 1


def cmd_phonons(args: argparse.Namespace) -> int:
    """``na-flows phonons``: force constants, verdict and descriptors of one displacement reference."""
    from na_lattice_flows.phonons.descriptors import phonon_descriptors
    from na_lattice_flows.phonons.force_constants import fit_force_constants
    from na_lattice_flows.phonons.references import load_reference
    from na_lattice_flows.phonons.stability import record_verdict, stability_screen

    reference = load_reference(args.path)
    verdict, ph = stability_screen(fit_force_constants(reference, method=args.fc_method))
    descriptors, _ = phonon_descriptors(
        ph, temperature_k=args.temperature, low_freq_cutoff_thz=args.low_freq_cutoff
    )
    record_verdict(descriptors, verdict)
    result = {
        "structure": reference.name,
        "formula": reference.unitcell.composition.reduced_formula,
        **descriptors.model_dump(),
        "stability": verdict.model_dump(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key not in ("msd_per_site_A2", "site_species", "stability"):
                print(
                    f"{key:32s} {value:.5g}" if isinstance(value, float) else f"{key:32s} {value}"
                )
    return 0


def cmd_diffusion(args: argparse.Namespace) -> int:
    """``na-flows diffusion``: the transport analysis of any trajectory file."""
    from na_lattice_flows.md.trajectory import read_trajectory
    from na_lattice_flows.md.transport import analyze_trajectory, probability_density_chgcar

    try:
        window = tuple(float(x) for x in args.fit_window.split(","))
    except ValueError:
        raise InputError(
            f"--fit-window: expected two fractions like 0.1,0.5; got {args.fit_window!r}"
        ) from None
    trajectory = read_trajectory(args.trajectory, args.timestep_fs, args.stride, args.temperature)
    analysis, _ = analyze_trajectory(
        trajectory, args.species, window, use_kinisi=not args.no_kinisi
    )
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
        "kinisi_D_interval_A2_per_ps": analysis.kinisi.D_interval_A2_per_ps
        if analysis.kinisi
        else None,
        "kinisi_D_jump_A2_per_ps": analysis.kinisi.D_jump_A2_per_ps if analysis.kinisi else None,
        "haven_ratio": analysis.kinisi.haven_ratio if analysis.kinisi else None,
        "elements": {name: element.model_dump() for name, element in analysis.elements.items()},
    }
    if args.density:
        result["density_chgcar"] = probability_density_chgcar(
            trajectory, args.density, args.species
        )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "elements":
                print(
                    f"{key:30s} {value:.5g}" if isinstance(value, float) else f"{key:30s} {value}"
                )
    return 0


def _submit_benchmark(args: argparse.Namespace, models: list[str]) -> int:
    """Submit the benchmark flow once: every reference is read first (an unreadable one is named now, not
    when a worker runs it), and the same references and models submitted again add nothing."""
    from na_lattice_flows.benchmark.jobs import ForceBenchmarkMaker
    from na_lattice_flows.cli.common import EXIT_NOTHING_SUBMITTED
    from na_lattice_flows.execution.submission import add_flow
    from na_lattice_flows.phonons.references import load_reference, reference_digest

    for reference in args.references:
        load_reference(reference)
    key = json.dumps(
        {"models": sorted(models), "references": sorted(map(reference_digest, args.references))}
    )
    study_id = "force-benchmark-" + hashlib.sha1(key.encode()).hexdigest()[:10]
    settings = store_settings(args)
    with open_session(settings) as session:
        existing = session.launchpad.workflows.find_one(
            {"metadata.study_id": study_id}, {"nodes": 1, "state": 1}
        )
        if existing and not args.force:
            print(
                f"already submitted: {study_id} (workflow {min(existing['nodes'])}, {existing['state']}): the "
                "same references and models; nothing added (--force resubmits)"
            )
            return EXIT_NOTHING_SUBMITTED
        flow = ForceBenchmarkMaker(models=tuple(models)).make(args.references)
        fw_id = add_flow(
            session,
            flow,
            f"mlp force benchmark {study_id}",
            {"kind": "mlp force benchmark", "study_id": study_id, "models": models},
        )
    print(
        f"Submitted the force benchmark {study_id} (workflow {fw_id}: {len(args.references)} references x "
        f"{len(models)} models) to {settings.describe()}; launch it with `na-flows run` or rlaunch; its ranking: "
        "`na-flows results --benchmarks`"
    )
    return 0
