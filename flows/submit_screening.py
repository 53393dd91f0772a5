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

from na_lattice_flows.api import screening_maker
from na_lattice_flows.candidates.loaders import LoadResult, load_candidates
from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates
from na_lattice_flows.cli.options import add_model_options, model_values
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import submit_candidates
from na_lattice_flows.settings import trajectory_folder
from na_lattice_flows.workflow.options import ScreeningOptions


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
    add_model_options(parser, ScreeningOptions)  # the flow options of `na-flows submit`
    parser.add_argument("--max-sites", type=int, default=200)
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
    options = model_values(args, ScreeningOptions)
    options["trajectory_dir"] = trajectory_folder(args.trajectory_dir, settings.workdir)
    maker = screening_maker(**options)
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
