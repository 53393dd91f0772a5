"""Making a force field from the command line: ``na-flows train dataset`` (MLP MD of the given structures, frame
selection, DFT labels, independent splits; optionally the fit after it), ``train fit`` (a fit on a dataset
folder), ``train results`` (trained models with their held-out errors beside the pretrained ones). Run the
flows with ``na-flows run`` or rlaunch (MD and fits: GPU workers; GPAW labels: CPU workers)."""

from __future__ import annotations

import argparse
import math
import re
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
from na_lattice_flows.cli.options import number, output_file
from na_lattice_flows.errors import InputError, MissingInputError
from na_lattice_flows.settings import SETTINGS

ROUTES = ("allegro", "sevennet", "uma")
DEFAULT_SHARED = Path("..") / "shared" / "data"


def _numbers(text: str, option: str) -> list[float]:
    try:
        return [float(value) for value in text.split(",") if value.strip()]
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: give comma-separated numbers") from exc


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


def _checked_name(name: str, option: str = "--name") -> str:
    """A dataset or model name: it becomes a folder under the work folder, so no path separators, no '..'."""
    if not SAFE_NAME.fullmatch(name or "") or ".." in name:
        raise InputError(
            f"{option} {name!r}: use letters, digits, spaces, '.', '_' and '-' (it names a folder in the work folder)"
        )
    return name


def _checked_fractions(text: str) -> tuple[float, float, float]:
    """Three positive shares summing to 1: a fit needs a train, a validation and a test split."""
    fractions = _numbers(text, "--fractions")
    if (
        len(fractions) != 3
        or not all(math.isfinite(f) and f > 0 for f in fractions)
        or not math.isclose(sum(fractions), 1.0)
    ):
        raise InputError(
            f"--fractions {text!r}: give three shares (train,val,test), each > 0, summing to 1, e.g. 0.8,0.1,0.1"
        )
    return tuple(fractions)


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def add_commands(commands) -> dict:
    """Add this group's subcommands; returns command name -> handler."""
    train = commands.add_parser(
        "train",
        help="training sets from MLP MD + DFT labels, Allegro from scratch, SevenNet or UMA fine-tuning",
        description="`train dataset` submits MLP MD of each structure at each temperature, a farthest-point selection "
        "of frames, DFT single points on them and a dataset split by configuration (no configuration on two sides); "
        "with --fit, the fit follows. `train fit` fits on a dataset folder (train/val/test.extxyz). `train results` "
        "lists trained models with their test errors beside the pretrained models'. A trained model is used as "
        "--model allegro:/path/model.nequip.zip, sevennet:/path/checkpoint_best.pth or fairchem:/path/model.pt everywhere.",
    )
    actions = train.add_subparsers(dest="train_action", required=True, metavar="ACTION")
    dataset = actions.add_parser(
        "dataset", help="submit training-set generation (and optionally the fit)"
    )
    dataset.add_argument(
        "structures", nargs="+", help="CIF/POSCAR files, one configuration each (e.g. doped cells)"
    )
    dataset.add_argument(
        "--name",
        required=True,
        help="dataset name (a second submission of a name is refused without --force)",
    )
    dataset.add_argument(
        "--model",
        default=SETTINGS.doping_model,
        help=f"MLP driving the MD (default {SETTINGS.doping_model})",
    )
    dataset.add_argument(
        "--temperatures",
        default="700,200",
        help="K, comma-separated (default 700,200: the doped study's)",
    )
    dataset.add_argument(
        "--md-steps", type=int, default=2000, help="production steps per run (default 2000)"
    )
    dataset.add_argument(
        "--equilibration", type=int, default=500, help="equilibration steps per run (default 500)"
    )
    dataset.add_argument("--timestep", type=float, default=2.0, help="fs (default 2.0)")
    dataset.add_argument(
        "--frame-interval",
        type=int,
        default=20,
        help="MD steps between candidate frames (default 20)",
    )
    dataset.add_argument(
        "--frames", type=int, default=100, help="frames selected for DFT (default 100)"
    )
    dataset.add_argument(
        "--labeller",
        choices=["gpaw", "vasp", "emt"],
        default="gpaw",
        help="DFT single points (default gpaw, in --label-jobs CPU jobs; vasp: one atomate2 static per frame through "
        "custodian on CPU workers; emt: a test stand-in)",
    )
    dataset.add_argument(
        "--vasp-functional",
        choices=["PBE", "r2SCAN", "PBEsol"],
        default="PBE",
        help="VASP labels: functional (default PBE)",
    )
    dataset.add_argument(
        "--dft-ecut",
        type=number(above=0, unit="eV"),
        help="GPAW plane-wave cutoff, eV (default 500)",
    )
    dataset.add_argument(
        "--dft-kpoint-density",
        type=number(above=0, unit="per A^-1"),
        help="GPAW k-points per reciprocal A (default 3.0)",
    )
    dataset.add_argument(
        "--label-jobs",
        type=int,
        default=4,
        help="labelling jobs to spread the single points over (default 4)",
    )
    dataset.add_argument(
        "--fractions",
        default="0.8,0.1,0.1",
        help="train,val,test shares of frames (default 0.8,0.1,0.1)",
    )
    dataset.add_argument(
        "--group-by",
        choices=["configuration", "run"],
        default="configuration",
        help="what a split may not share: configuration (frames of one structure stay in one split; "
        "default) or run (frames of one MD run)",
    )
    dataset.add_argument(
        "--seed",
        type=number(at_least=0, integer=True),
        default=0,
        help="seed of the MD sampling and of the split (default 0)",
    )
    dataset.add_argument(
        "--fit",
        choices=["none", *ROUTES],
        default="none",
        help="fit after the dataset (default none)",
    )
    dataset.add_argument("--epochs", type=int, help="fit epochs (default: the route's)")
    dataset.add_argument(
        "--uma-checkpoint",
        help="--fit uma: the fairchem UMA checkpoint file to fine-tune (e.g. uma-s-1p1.pt)",
    )
    dataset.add_argument(
        "--baseline-models",
        default="7net-0",
        help="pretrained models tested beside the fit (default 7net-0)",
    )
    dataset.add_argument(
        "--trajectory-dir",
        help="MD trajectories (default <workdir>/trajectories; every worker sees it)",
    )
    dataset.add_argument(
        "--force", action="store_true", help="submit even if a dataset of this name was submitted"
    )
    add_store_options(dataset)

    fit = actions.add_parser(
        "fit", help="submit a fit on a dataset folder (train.extxyz, val.extxyz, test.extxyz)"
    )
    fit.add_argument("dataset_folder")
    fit.add_argument(
        "--route",
        choices=ROUTES,
        default="allegro",
        help="allegro from scratch, sevennet or uma fine-tuning (default allegro)",
    )
    fit.add_argument(
        "--uma-checkpoint",
        help="--route uma: the fairchem UMA checkpoint file to fine-tune (e.g. uma-s-1p1.pt)",
    )
    fit.add_argument("--name", help="model name (default: <dataset>-<route>)")
    fit.add_argument("--epochs", type=int, help="epochs (default: the route's)")
    fit.add_argument(
        "--baseline-models",
        default="7net-0",
        help="pretrained models tested beside the fit (default 7net-0)",
    )
    fit.add_argument(
        "--group-by",
        choices=["configuration", "run"],
        default="configuration",
        help="what the train/validation/test splits may not share: configuration (default) or run",
    )
    add_store_options(fit)

    phonondb = actions.add_parser(
        "phonondb",
        help="rebuild chgnet-na: CHGNet fine-tuned on phononDB force sets (runs here, resumable)",
        description="Fine-tunes CHGNet on the DFT force sets of ../shared/data (the training side of phonondb_train by "
        "material, plus phonondb_dev less the validation materials), seeded, and writes the weights the registry name "
        "chgnet-na loads, with their provenance beside them. Rerun to resume an interrupted run.",
    )
    phonondb.add_argument(
        "--shared",
        default=str(DEFAULT_SHARED),
        help=f"the shared data folder (default {DEFAULT_SHARED})",
    )
    phonondb.add_argument(
        "--start",
        choices=list(PHONONDB_STARTS),
        default=next(iter(PHONONDB_STARTS)),
        help="the model fine-tuned: chgnet (default; CHGNet 0.3.0, its own trainer) or 7net-0 (sevenn's "
        "fine_tune preset; harmonic frames only, as it learns energies too); 7net-0's checkpoint is "
        "RUN_DIR/checkpoint_best.pth, registry name sevennet:RUN_DIR/checkpoint_best.pth",
    )
    phonondb.add_argument("--epochs", type=int, default=3, help="epochs (default 3)")
    phonondb.add_argument(
        "--frames-per-material",
        type=int,
        default=2,
        help="displaced supercells per material (default 2)",
    )
    phonondb.add_argument(
        "--frames",
        choices=["force-set", "harmonic"],
        default="force-set",
        help="force-set (default): the archives' displaced supercells and DFT forces; harmonic: every atom "
        "displaced --harmonic-amplitude, labelled with the harmonic forces of each archive's DFT force "
        "constants",
    )
    phonondb.add_argument(
        "--harmonic-amplitude",
        type=float,
        default=0.03,
        help="A per atom in harmonic frames (default 0.03, the screen's)",
    )
    phonondb.add_argument(
        "--learning-rate", type=float, default=1e-3, help="Adam, cosine-decayed (default 1e-3)"
    )
    phonondb.add_argument(
        "--run-dir",
        default="na_flows_work/models/chgnet-na",
        help="trainer checkpoints (resume from here)",
    )
    phonondb.add_argument(
        "--out",
        type=output_file,
        help="weights file (default: the registry's chgnet-na file in the package)",
    )
    phonondb.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")

    results = actions.add_parser("results", help="trained models and their held-out errors")
    add_table_options(results)
    add_store_options(results)
    return {"train": cmd_train}


# the models `train phonondb` fine-tunes (the first is the default): CHGNet by its own trainer, 7net-0 by sevenn's
PHONONDB_STARTS = ("chgnet", "7net-0")


def cmd_train(args: argparse.Namespace) -> int:
    """``na-flows train ACTION``."""
    return {"dataset": _dataset, "fit": _fit, "phonondb": _phonondb, "results": _results}[
        args.train_action
    ](args)


def _phonondb(args: argparse.Namespace) -> int:
    import torch

    from na_lattice_flows.benchmark.splits import specialist_training_archives
    from na_lattice_flows.models import CHGNET_NA_FILE
    from na_lattice_flows.phonons.references import load_reference
    from na_lattice_flows.training.chgnet import (
        PHONONDB_DATA,
        CHGNetFineTuneSettings,
        finetune_chgnet,
    )

    if args.start == "7net-0" and args.frames != "harmonic":
        raise InputError(
            "--start 7net-0 needs --frames harmonic: sevenn learns energies too, and the force sets have none"
        )
    if args.start == "7net-0" and args.out:
        raise InputError("--out is for --start chgnet; 7net-0's checkpoint stays in --run-dir")
    if not (Path(args.shared) / "phonondb_train").is_dir():
        raise MissingInputError(f"--shared {args.shared}: no phonondb_train folder there")
    torch.set_num_threads(max(1, args.threads))
    archives = specialist_training_archives(args.shared)
    description = {
        **PHONONDB_DATA,
        "archives": [p.name.split(".")[0] for p in archives],
        "split": "benchmark.splits: by reduced formula, salted hash, 1 in 5 of phonondb_train validates",
    }
    references = (load_reference(path) for path in archives)  # read one at a time
    if args.start == "7net-0":
        return _phonondb_sevennet(args, references, description)
    settings = CHGNetFineTuneSettings(
        epochs=args.epochs,
        max_frames_per_material=args.frames_per_material,
        learning_rate=args.learning_rate,
        frames=args.frames,
        harmonic_amplitude_A=args.harmonic_amplitude,
    )
    run = finetune_chgnet(
        settings,
        references,
        args.run_dir,
        args.out or CHGNET_NA_FILE,
        {
            **description,
            **(
                {
                    "labels": f"harmonic forces of each archive's DFT force constants (phonopy fit) on "
                    f"{args.frames_per_material} supercells per material, every atom displaced "
                    f"{args.harmonic_amplitude} A (training.harmonic_frames)"
                }
                if args.frames == "harmonic"
                else {}
            ),
        },
    )
    print(
        f"chgnet-na: {run.model_file} (epoch {run.best_epoch} of {len(run.val_force_mae_eV_per_A)}; held-out force MAE "
        f"{1e3 * run.val_force_mae_eV_per_A[run.best_epoch]:.1f} meV/A; {run.seconds:.0f} s)"
    )
    return 0


def _phonondb_sevennet(args: argparse.Namespace, references, description: dict) -> int:
    from na_lattice_flows.training.sevennet import (
        SevenNetFineTuneSettings,
        finetune_sevennet_on_force_sets,
    )

    # the labels' energies are 7net-0's own (undisplaced supercell + 1/2 u Phi u): no reference to align
    settings = SevenNetFineTuneSettings(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        stress_weight=0.0,
        align_energy_reference=False,
    )
    run = finetune_sevennet_on_force_sets(
        settings,
        references,
        args.frames_per_material,
        args.harmonic_amplitude,
        0.1,
        args.run_dir,
        description,
    )
    force_rmse = [v for v in run.curves["val_force_rmse_eV_per_A"] if v is not None]
    print(
        f"sevennet:{run.model_path} ({len(run.curves['epoch'])} epochs; held-out force RMSE "
        f"{1e3 * min(force_rmse):.1f} meV/A at its best; {run.seconds:.0f} s)"
        if force_rmse
        else f"sevennet:{run.model_path} ({run.seconds:.0f} s)"
    )
    return 0


def _fit_maker(
    route: str,
    name: str,
    epochs: int | None,
    baselines: list[str],
    workdir: str,
    uma_checkpoint: str | None = None,
):
    from na_lattice_flows.models import resolve_model
    from na_lattice_flows.training.allegro import AllegroSettings
    from na_lattice_flows.training.jobs import (
        AllegroFitMaker,
        SevenNetFineTuneMaker,
        UMAFineTuneMaker,
    )
    from na_lattice_flows.training.sevennet import SevenNetFineTuneSettings
    from na_lattice_flows.training.uma import UMAFineTuneSettings

    for model in baselines:
        resolve_model(model)
    if epochs is not None and epochs < 1:
        raise InputError(f"--epochs {epochs}: must be at least 1")
    folder = str(Path(workdir) / "models" / name)
    if route == "allegro":
        settings = AllegroSettings(**({"max_epochs": epochs} if epochs else {}))
        return AllegroFitMaker(
            name=name, settings=settings, workdir=folder, baseline_models=tuple(baselines)
        )
    if route == "uma":
        if (
            uma_checkpoint
            and Path(uma_checkpoint).is_file()
            and Path(uma_checkpoint).suffix != ".pt"
        ):
            raise InputError(
                f"--uma-checkpoint {uma_checkpoint}: not a fairchem checkpoint (a .pt file)"
            )
        if not uma_checkpoint or not Path(uma_checkpoint).is_file():
            raise MissingInputError(
                f"--uma-checkpoint {uma_checkpoint}: the uma route fine-tunes a checkpoint file you have "
                "(the weights are gated on the Hugging Face hub: download uma-s-1p1.pt first)"
            )
        settings = UMAFineTuneSettings(
            checkpoint=str(Path(uma_checkpoint).resolve()), **({"epochs": epochs} if epochs else {})
        )
        return UMAFineTuneMaker(
            name=name, settings=settings, workdir=folder, baseline_models=tuple(baselines)
        )
    settings = SevenNetFineTuneSettings(**({"epochs": epochs} if epochs else {}))
    return SevenNetFineTuneMaker(
        name=name, settings=settings, workdir=folder, baseline_models=tuple(baselines)
    )


def _dataset(args: argparse.Namespace) -> int:
    from jobflow import Flow

    from na_lattice_flows.dft.gpaw import GPAWSettings
    from na_lattice_flows.execution.submission import add_flow
    from na_lattice_flows.models import resolve_model
    from na_lattice_flows.training.jobs import TrainingSetMaker

    resolve_model(args.model)
    _checked_name(args.name)
    structures = {}
    for path in args.structures:
        name = Path(path).stem
        if name in structures:
            raise InputError(
                f"{path}: a second structure named {name!r}; configurations are named by their file names"
            )
        structures[name] = read_structure_file(path)
    fractions = _checked_fractions(args.fractions)
    n_groups = len(structures) * (
        len(_numbers(args.temperatures, "--temperatures")) if args.group_by == "run" else 1
    )
    if n_groups < 3:
        raise InputError(
            f"{len(structures)} configuration(s) give {n_groups} {args.group_by} group(s): a train, a validation and "
            "a test split independent of each other need at least 3 (give more structures, or --group-by run "
            "with more temperatures)"
        )
    settings = store_settings(args)
    workdir = Path(settings.workdir).resolve()
    gpaw = {"ecut_eV": args.dft_ecut, "kpoint_density": args.dft_kpoint_density}
    gpaw_settings = GPAWSettings(**{key: value for key, value in gpaw.items() if value is not None})
    md = {
        "n_equilibration_steps": args.equilibration,
        "n_production_steps": args.md_steps,
        "timestep_fs": args.timestep,
        "frame_interval_steps": args.frame_interval,
    }
    maker = TrainingSetMaker(
        name=args.name,
        model=args.model,
        temperatures_K=tuple(_numbers(args.temperatures, "--temperatures")),
        md_overrides=md,
        n_select=args.frames,
        labeller=args.labeller,
        gpaw_settings=gpaw_settings,
        vasp_functional=args.vasp_functional,
        n_label_jobs=args.label_jobs,
        fractions=tuple(fractions),
        group_by=args.group_by,
        seed=args.seed,
        dataset_dir=str(workdir / "datasets" / args.name),
        trajectory_dir=args.trajectory_dir or str(SETTINGS.trajectory_folder(settings.workdir)),
    )
    fit = (
        None
        if args.fit == "none"
        else _fit_maker(
            args.fit,
            f"{args.name}-{args.fit}",
            args.epochs,
            _names(args.baseline_models),
            str(workdir),
            args.uma_checkpoint,
        )
    )
    with open_session(settings) as session:
        existing = session.launchpad.workflows.find_one(
            {"metadata.kind": "training set", "metadata.name": args.name}, {"nodes": 1, "state": 1}
        )
        if existing and not args.force:
            print(
                f"already submitted: dataset {args.name!r} (workflow {min(existing['nodes'])}, {existing['state']}); use --force to resubmit"
            )
            return EXIT_NOTHING_SUBMITTED
        flow = maker.make(structures)
        if fit is not None:
            flow = Flow([flow, fit.make(flow.output)], output=flow.output, name=flow.name)
        fw_id = add_flow(
            session,
            flow,
            f"training set {args.name}",
            {"kind": "training set", "name": args.name, "fit": args.fit},
        )
    print(
        f"Submitted training set {args.name!r} (workflow {fw_id}; {len(structures)} configurations x "
        f"{len(maker.temperatures_K)} temperatures, {args.frames} frames, {args.labeller} labels"
        f"{'' if fit is None else ', then the ' + args.fit + ' fit'}). Run it with `na-flows run`."
    )
    return 0


def _fit(args: argparse.Namespace) -> int:
    from na_lattice_flows.execution.submission import add_flow
    from na_lattice_flows.training.schemas import DatasetDocument

    dataset = DatasetDocument.from_folder(args.dataset_folder, group_by=args.group_by)
    if "test" not in dataset.split_paths:
        raise MissingInputError(
            f"{args.dataset_folder}: no test.extxyz; a fit is judged on a held-out test split"
        )
    settings = store_settings(args)
    name = _checked_name(args.name or f"{dataset.name}-{args.route}")
    maker = _fit_maker(
        args.route,
        name,
        args.epochs,
        _names(args.baseline_models),
        str(Path(settings.workdir).resolve()),
        args.uma_checkpoint,
    )
    with open_session(settings) as session:
        existing = session.launchpad.workflows.find_one(
            {"metadata.kind": "force field fit", "metadata.name": name}, {"nodes": 1, "state": 1}
        )
        if existing:  # both would write models/<name>
            raise InputError(
                f"--name {name}: a fit of that name is already in the store (workflow {min(existing['nodes'])}, "
                f"{existing['state']}); give another --name"
            )
        fw_id = add_flow(
            session,
            maker.make(dataset),
            f"fit {name}",
            {"kind": "force field fit", "name": name, "route": args.route},
        )
    print(
        f"Submitted the {args.route} fit {name!r} on {dataset.name} ({dataset.n_frames}) as workflow {fw_id}. Run it with `na-flows run`."
    )
    return 0


RESULT_COLUMNS = [
    "model",
    "route",
    "dataset",
    "tested_model",
    "force_rmse_meV_per_A",
    "energy_rmse_meV_per_atom",
    "energy_rmse_offset_removed_meV_per_atom",
    "stress_rmse_GPa",
    "n_frames",
    "seconds",
]


def _results(args: argparse.Namespace) -> int:
    import pandas as pd

    from na_lattice_flows.execution.queries import trained_model_documents

    with open_session(store_settings(args, existing=True), read_only=True) as session:
        documents = trained_model_documents(session)
    rows = []
    for doc in documents:
        for tested, metrics in doc["test"]["models"].items():
            rows.append(
                {
                    "model": doc["model"],
                    "route": doc["route"],
                    "dataset": doc["dataset"],
                    "tested_model": tested,
                    **{key: metrics.get(key) for key in RESULT_COLUMNS[4:9]},
                    "seconds": doc["seconds"],
                }
            )
    write_table(pd.DataFrame(rows, columns=RESULT_COLUMNS), args.format, args.output)
    return 0
