"""Submit AIMD validation of the screen's best hits: the k structures with the largest MLP diffusion coefficient
(finished screening flows, MD not melted) get AIMD and an MLP-vs-AIMD comparison document.

    python flows/submit_validation.py --top 5 --engine vasp --wall-time 172800   # HPC, VASP through custodian
    (the same from the command line: na-flows validate submit --top 5 --engine vasp --wall-time 172800)
    python flows/submit_validation.py --top 1 --engine gpaw --steps 2000          # locally, GPAW
    na-flows run            # or: rlaunch ... rapidfire on the workers
"""

from __future__ import annotations

import argparse

from na_lattice_flows.api import validation_flow
from na_lattice_flows.execution.queries import summary_documents
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow
from na_lattice_flows.settings import SETTINGS, trajectory_folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--top", type=int, default=5, help="number of structures (largest MLP D first)"
    )
    parser.add_argument("--engine", choices=["vasp", "gpaw"], default="vasp")
    parser.add_argument("--temperature", type=float, default=SETTINGS.temperature_K)
    parser.add_argument(
        "--steps", type=int, default=20_000, help="AIMD steps of 1.5 fs (default 20 000 = 30 ps)"
    )
    parser.add_argument(
        "--wall-time",
        type=int,
        help="VASP: queue wall time per segment in s (custodian WalltimeHandler)",
    )
    parser.add_argument(
        "--trajectory-dir", help="GPAW: a folder every worker sees (default <workdir>/trajectories)"
    )
    parser.add_argument(
        "--workdir", help="embedded store folder (ignored when MongoDB is configured)"
    )
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args(argv)

    settings = resolve_settings(args.workdir, args.mongodb_uri)
    with open_session(settings) as session:
        flow = validation_flow(
            summary_documents(session),
            args.top,
            args.engine,
            args.temperature,
            args.steps,
            args.wall_time,
            trajectory_folder(args.trajectory_dir, settings.workdir),
        )
        fw_id = add_flow(
            session,
            flow,
            f"aimd validation ({args.engine})",
            {"kind": "aimd validation", "engine": args.engine},
        )
    print(
        f"{settings.describe()}: AIMD ({args.engine}) of the top {args.top} structures submitted as workflow {fw_id}"
    )


if __name__ == "__main__":
    main()
