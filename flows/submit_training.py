"""Submit a force-field training from Python: doped Na3SbS4 cells (W on Sb with Na vacancies, SQS) as the
configurations, MLP MD at 700 and 200 K (the doped study's), farthest-point selection, GPAW labels, a split by
configuration, then Allegro from scratch with the study's hyperparameters and SevenNet-0 fine-tuned, each tested
on the held-out configurations beside the pretrained 7net-0.

    python flows/submit_training.py tetragonal_Na3SbS4.cif --fractions 0.0625,0.125,0.1875,0.25 --seeds 1,2,3
    na-flows run            # or rlaunch: MD and fits on GPU workers, GPAW labels on CPU workers
    na-flows train results

The same from the command line: ``na-flows train dataset doped_*.cif --name ... --fit allegro``.
"""

from __future__ import annotations

import argparse

from jobflow import Flow
from pymatgen.core import Structure

from na_lattice_flows.doping.cells import doped_supercell
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.training.jobs import AllegroFitMaker, SevenNetFineTuneMaker, TrainingSetMaker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("structure", help="the host's conventional cell (CIF/POSCAR)")
    parser.add_argument(
        "--fractions", default="0.0625,0.125,0.25", help="W fractions of the configurations"
    )
    parser.add_argument(
        "--seeds", default="1,2", help="SQS/vacancy seeds: one configuration per fraction and seed"
    )
    parser.add_argument("--supercell", default="2x2x2")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--name", default="w_doped_na3sbs4")
    parser.add_argument(
        "--workdir", help="embedded store folder (ignored when MongoDB is configured)"
    )
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args(argv)

    host = Structure.from_file(args.structure)
    size = tuple(int(n) for n in args.supercell.split("x"))
    configurations = {}
    for fraction in (float(f) for f in args.fractions.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            cell = doped_supercell(host, "W", "Sb", fraction, size, seed)
            configurations[f"W{cell.achieved_fraction:.4f}_seed{seed}"] = cell.structure
    settings = resolve_settings(args.workdir, args.mongodb_uri)
    trajectories = str(SETTINGS.trajectory_folder(settings.workdir))
    dataset = TrainingSetMaker(
        name=args.name,
        model=SETTINGS.doping_model,
        n_select=args.frames,
        trajectory_dir=trajectories,
    ).make(configurations)
    fits = [
        AllegroFitMaker(name=f"{args.name}-allegro").make(dataset.output),
        SevenNetFineTuneMaker(name=f"{args.name}-sevennet").make(dataset.output),
    ]
    with open_session(settings) as session:
        fw_id = add_flow(
            session,
            Flow([dataset, *fits], output=dataset.output),
            f"training set {args.name}",
            {"kind": "training set", "name": args.name, "fit": "allegro+sevennet"},
        )
    print(
        f"{settings.describe()}: training set {args.name} ({len(configurations)} configurations) submitted as workflow {fw_id}"
    )


if __name__ == "__main__":
    main()
