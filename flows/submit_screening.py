"""Submit a screening campaign: load candidates from any source, screen them, add one flow per structure.

    python flows/submit_screening.py ../shared/data/candidates/na_mp2018_phonondb.csv --model 7net-l3i5
    python flows/submit_screening.py my_cifs/ --relax-engine vasp --md-preset paper --md-temperatures 600,800,1000
    python flows/submit_screening.py --optimade oqmd --max-sites 60             # needs network
    python flows/submit_screening.py pool.csv --model 7net-0 --phonon-batch 64   # phonons batched on GPU workers
    rlaunch -l <my_launchpad.yaml> -w fworker_configs/gpu_worker.yaml rapidfire   # or: na-flows run

Submitting the same candidates with the same settings again adds nothing (each structure has a symmetry-aware
fingerprint); --force resubmits. Scripts that compose their own flows use the same API:
``na_lattice_flows.api.screening_flows(inputs, screening_maker(...))`` returns the flows without submitting them.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from na_lattice_flows.api import RELAX_ENGINES, screening_maker
from na_lattice_flows.candidates.loaders import LoadResult, load_candidates
from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import submit_candidates
from na_lattice_flows.md.langevin import MD_PRESETS
from na_lattice_flows.settings import SETTINGS, trajectory_folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "inputs", nargs="*", help="CSV tables, JSON lists, CIF/POSCAR files or folders"
    )
    parser.add_argument(
        "--optimade", choices=["oqmd", "mp"], help="also query this OPTIMADE provider (online)"
    )
    parser.add_argument(
        "--model",
        default=SETTINGS.default_model,
        help="MLP for relaxation, phonons and MD (registry name)",
    )
    parser.add_argument(
        "--relax-engine",
        choices=RELAX_ENGINES,
        default="mlp",
        help="mlp, gpaw or vasp (default mlp)",
    )
    parser.add_argument("--md-preset", choices=sorted(MD_PRESETS), default="paper")
    parser.add_argument(
        "--md-temperatures", default=f"{SETTINGS.temperature_K:g}", help="K, comma-separated"
    )
    parser.add_argument("--md-engine", choices=["ase", "torchsim"], default="ase")
    parser.add_argument("--max-sites", type=int, default=200)
    parser.add_argument(
        "--trajectory-dir",
        help="MD trajectories, a folder every worker sees (default <workdir>/trajectories)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="resubmit structures already submitted with these settings",
    )
    parser.add_argument(
        "--phonon-batch",
        type=int,
        help="phonon forces of this many candidates per batched GPU job (SevenNet/UMA)",
    )
    parser.add_argument(
        "--workdir", help="embedded store folder (ignored when MongoDB is configured)"
    )
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args(argv)
    if not args.inputs and not args.optimade:
        parser.error("name at least one input or --optimade")

    loaded = load_candidates(args.inputs) if args.inputs else LoadResult()
    if args.optimade:
        from na_lattice_flows.candidates.optimade import query_optimade

        loaded.extend(query_optimade(args.optimade, max_sites=args.max_sites))
    report = screen_candidates(loaded, ScreeningCriteria(max_sites=args.max_sites))
    settings = resolve_settings(args.workdir, args.mongodb_uri)
    maker = screening_maker(
        model=args.model,
        relax_engine=args.relax_engine,
        md_preset=args.md_preset,
        md_engine=args.md_engine,
        md_temperatures=[float(t) for t in args.md_temperatures.split(",")],
        trajectory_dir=trajectory_folder(args.trajectory_dir, settings.workdir),
    )
    with open_session(settings) as session:
        inputs = args.inputs + ([f"optimade:{args.optimade}"] if args.optimade else [])
        record = submit_candidates(
            session,
            report,
            inputs,
            maker,
            force=args.force,
            processes=os.cpu_count() or 1,
            phonon_batch=args.phonon_batch,
        )
    print(
        f"{settings.describe()}: campaign {record.campaign_id}, {len(record.submitted)} flows submitted, "
        f"{len(record.rejections)} structures not submitted"
    )
    reasons = Counter(rejection.reason.split(":")[0] for rejection in record.rejections)
    for reason, count in sorted(reasons.items()):
        print(f"  {count:5d}  {reason}")


if __name__ == "__main__":
    main()
