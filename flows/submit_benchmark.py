"""Submit the MLP force benchmark: each model against the DFT forces of phononDB-style references.

    python flows/submit_benchmark.py ../shared/data/phonondb_dev/*.tar.lzma --models chgnet,7net-0,7net-l3i5
    rlaunch -l <my_launchpad.yaml> -w fworker_configs/gpu_worker.yaml rapidfire   # or: na-flows run

The flow's last job ranks the models (force RMSE, then stability agreement) and stores the chosen one.
``na_lattice_flows.api.benchmark_flow(references, models)`` returns the same flow without submitting it.
"""

from __future__ import annotations

import argparse

from na_lattice_flows.api import benchmark_flow
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "references",
        nargs="+",
        help="phononDB archives/folders or phonopy yaml files with FORCE_SETS",
    )
    parser.add_argument(
        "--models", default="chgnet,7net-0,7net-l3i5", help="comma-separated registry names"
    )
    parser.add_argument(
        "--workdir", help="embedded store folder (ignored when MongoDB is configured)"
    )
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    flow = benchmark_flow(args.references, models)
    settings = resolve_settings(args.workdir, args.mongodb_uri)
    with open_session(settings) as session:
        fw_id = add_flow(
            session, flow, "mlp force benchmark", {"kind": "mlp force benchmark", "models": models}
        )
    print(
        f"{settings.describe()}: force benchmark ({len(args.references)} references x {len(models)} models) submitted as workflow {fw_id}"
    )


if __name__ == "__main__":
    main()
