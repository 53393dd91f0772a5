"""Issue 19's benchmark: a small training set labelled with GPAW, SevenNet-0 fine-tuned and a small Allegro trained
on it, and the held-out test errors of the pretrained and the trained models side by side, with wall times.

System: rock-salt NaCl (what 2 CPU cores label in well under an hour): four configurations (8-atom cells at three
lattice constants and a 16-atom cell with one Na-Cl Schottky pair removed), MLP MD with 7net-0 at 300 and 900 K,
farthest-point selection, GPAW PBE single points, split by configuration (the test configuration is never seen
in training). Everything runs in this process through jobflow's run_locally (the product's own jobs).

  python benchmarks/training.py --frames 60 --allegro-epochs 150 --sevennet-epochs 30 --workdir /tmp/train_bench
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def configurations() -> dict:
    from pymatgen.core import Lattice, Structure

    cells = {}
    for a in (5.55, 5.65, 5.75):
        cells[f"nacl_{a:.2f}"] = Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
        )
    schottky = cells["nacl_5.65"] * (2, 1, 1)
    schottky.remove_sites([0, len(schottky) - 1])  # one Na and one Cl
    cells["nacl_schottky"] = schottky
    return cells


def main() -> None:
    from jobflow import Flow, JobStore, run_locally
    from maggma.stores import MemoryStore

    from na_lattice_flows.dft.gpaw import GPAWSettings
    from na_lattice_flows.training.allegro import AllegroSettings
    from na_lattice_flows.training.jobs import (
        AllegroFitMaker,
        SevenNetFineTuneMaker,
        TrainingSetMaker,
    )
    from na_lattice_flows.training.sevennet import SevenNetFineTuneSettings

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--md-steps", type=int, default=600)
    parser.add_argument("--ecut", type=float, default=400.0)
    parser.add_argument("--kpoint-density", type=float, default=2.5)
    parser.add_argument("--allegro-epochs", type=int, default=150)
    parser.add_argument("--sevennet-epochs", type=int, default=30)
    parser.add_argument("--workdir", default="/tmp/na_flows_training_bench")
    args = parser.parse_args()

    Path(args.workdir, "runs").mkdir(parents=True, exist_ok=True)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    md = {
        "n_equilibration_steps": 100,
        "n_production_steps": args.md_steps,
        "frame_interval_steps": 10,
        "timestep_fs": 2.0,
    }
    dataset_maker = TrainingSetMaker(
        name="nacl bench",
        model="7net-0",
        temperatures_K=(300.0, 900.0),
        md_overrides=md,
        n_select=args.frames,
        labeller="gpaw",
        gpaw_settings=GPAWSettings(ecut_eV=args.ecut, kpoint_density=args.kpoint_density),
        n_label_jobs=1,
        fractions=(0.5, 0.25, 0.25),
        trajectory_dir=f"{args.workdir}/trajectories",
        dataset_dir=f"{args.workdir}/dataset",
    )
    start = time.perf_counter()
    dataset_flow = dataset_maker.make(configurations())
    run_locally(
        dataset_flow,
        store=store,
        create_folders=True,
        root_dir=f"{args.workdir}/runs",
        ensure_success=True,
    )
    dataset = store.query_one({"uuid": dataset_flow.output.uuid}, load=True)["output"]
    dataset_seconds = time.perf_counter() - start
    print(
        f"dataset: {dataset['n_frames']} frames, groups {dataset['groups']}, {dataset_seconds:.0f} s (MD + selection + GPAW)"
    )

    allegro = AllegroSettings(
        max_epochs=args.allegro_epochs, num_scalar_features=32, mlp_width=32, batch_size=2
    )
    fits = [
        AllegroFitMaker(
            settings=allegro,
            workdir=f"{args.workdir}/allegro",
            baseline_models=("chgnet", "7net-0"),
        ).make(dataset),
        SevenNetFineTuneMaker(
            settings=SevenNetFineTuneSettings(epochs=args.sevennet_epochs, batch_size=2),
            workdir=f"{args.workdir}/sevennet",
            baseline_models=("chgnet",),
        ).make(dataset),
    ]
    results = {}
    for fit in fits:
        run_locally(
            Flow([fit]),
            store=store,
            create_folders=True,
            root_dir=f"{args.workdir}/runs",
            ensure_success=True,
        )
        document = store.query_one({"uuid": fit.uuid}, load=True)["output"]
        results[document["route"]] = document
        print(f"{document['route']}: {document['seconds']:.0f} s of training")
        for failure in document["test"]["failures"]:
            print(f"  failed on the test split: {failure['model']}: {failure['error']}")

    rows = {}
    for route, document in results.items():
        for model, metrics in document["test"]["models"].items():
            label = f"{route} (trained)" if model == document["model"] else model
            rows[label] = {
                key: metrics[key]
                for key in (
                    "force_rmse_meV_per_A",
                    "energy_rmse_meV_per_atom",
                    "energy_rmse_offset_removed_meV_per_atom",
                    "stress_rmse_GPa",
                    "n_frames",
                    "seconds_per_frame",
                )
            }
            if model == document["model"]:
                rows[label]["training_seconds"] = document["seconds"]
    print(
        f"{'model':22s} {'F RMSE meV/A':>13s} {'E RMSE meV/at':>14s} {'E (offset removed)':>19s} {'stress GPa':>11s} {'s/frame':>8s}"
    )
    for label, row in rows.items():
        print(
            f"{label:22s} {row['force_rmse_meV_per_A']:13.1f} {row['energy_rmse_meV_per_atom']:14.1f} "
            f"{row['energy_rmse_offset_removed_meV_per_atom']:19.1f} {row['stress_rmse_GPa']:11.3f} {row['seconds_per_frame']:8.3f}"
        )
    print(
        json.dumps(
            {"dataset_seconds": dataset_seconds, "n_frames": dataset["n_frames"], "rows": rows},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
