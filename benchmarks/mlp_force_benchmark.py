"""The MLP-vs-DFT force benchmark on the phononDB dev archives: per-model force RMSE/MAE, IFC2 RMSE, stability
agreement and time per structure, then one row per structure and model.

    .venv/bin/python benchmarks/mlp_force_benchmark.py [--models chgnet,7net-0,7net-l3i5] [--limit N]

Writes the full JSON to benchmarks/output/mlp_force_benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from na_lattice_flows.benchmark.forces import benchmark_references, summary_json

ARCHIVES = Path(__file__).resolve().parents[2] / "shared" / "data" / "phonondb_dev"
OUTPUT = Path(__file__).resolve().parent / "output" / "mlp_force_benchmark.json"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="chgnet,7net-0,7net-l3i5")
    parser.add_argument("--limit", type=int, help="only the first N archives")
    args = parser.parse_args()
    archives = sorted(ARCHIVES.glob("*.tar.lzma"))[: args.limit]
    if not archives:
        raise SystemExit(f"no archives in {ARCHIVES} (../shared/data beside the repository)")

    start = time.perf_counter()
    summary, failures = benchmark_references([str(a) for a in archives], args.models.split(","))
    result = summary_json(summary, failures)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(result, indent=2))

    print(
        f"{len(archives)} phononDB archives, models {args.models}, {time.perf_counter() - start:.0f} s in all (CPU)"
    )
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.max_rows", None
    ):
        print(pd.DataFrame.from_dict(result["models"], orient="index").round(4).to_string())
        print(f"ranking: {' > '.join(result['ranking'])}; chosen: {result['chosen_model']}")
        rows = pd.DataFrame(result["per_structure"])[
            [
                "structure",
                "formula",
                "model",
                "n_supercells",
                "n_atoms_supercell",
                "force_rmse_meV_per_A",
                "ifc2_rmse_eV_per_A2",
                "dft_min_frequency_thz",
                "mlp_min_frequency_thz",
                "seconds",
            ]
        ]
        print(rows.round(3).to_string(index=False))
    for failure in failures:
        print(f"failed: {failure}")
    print(f"JSON: {OUTPUT}")


if __name__ == "__main__":
    main()
