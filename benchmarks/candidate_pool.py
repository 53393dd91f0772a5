"""Load, screen and deduplicate the 1079-structure pool and choose every paper supercell; print the timings
and the distributions of supercell sizes and of longest/shortest lattice-length ratios.

    .venv/bin/python benchmarks/candidate_pool.py [--pool ../shared/data/candidates/na_mp2018_phonondb.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from na_lattice_flows.candidates.loaders import load_csv
from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates
from na_lattice_flows.structure.supercells import paper_supercell

DEFAULT_POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)


def histogram(values: np.ndarray, edges: list[float], unit: str) -> None:
    counts, _ = np.histogram(values, bins=edges)
    for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True):
        print(
            f"  {low:>7g} - {high:<7g}{unit:6s} {count:5d}  {'#' * int(60 * count / len(values))}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL)
    args = parser.parse_args()
    if not args.pool.is_file():
        raise SystemExit(
            f"pool not found: {args.pool} (it lives in ../shared/data beside the repository)"
        )

    start = time.perf_counter()
    loaded = load_csv(args.pool)
    loaded_at = time.perf_counter()
    report = screen_candidates(loaded, ScreeningCriteria(max_sites=None))
    screened_at = time.perf_counter()
    choices = [paper_supercell(c.structure) for c in loaded.candidates]
    chosen_at = time.perf_counter()

    print(
        f"pool: {args.pool.name}: {len(loaded.candidates)} structures, {len(loaded.rejections)} unreadable"
    )
    print(
        f"load {loaded_at - start:.1f} s, screen + deduplicate {screened_at - loaded_at:.1f} s, "
        f"supercells {chosen_at - screened_at:.2f} s ({1e3 * (chosen_at - screened_at) / len(choices):.2f} ms each)"
    )
    print(f"accepted {len(report.accepted)}; rejected: {report.rejection_counts() or 'none'}")
    for rejection in report.rejections[:10]:
        print(f"  {rejection.candidate_id}: {rejection.reason}")

    atoms = np.array([c.n_atoms for c in choices])
    ratios = np.array([c.length_ratio for c in choices])
    unit_sizes = np.array([len(c.structure) for c in loaded.candidates])
    print(
        f"\nsupercell atoms (all {len(atoms)} >= 80: {bool((atoms >= 80).all())}); "
        f"80-300 atoms: {100 * np.mean((atoms >= 80) & (atoms <= 300)):.1f} %"
    )
    print(
        "  percentiles 5/25/50/75/95/max: "
        + " / ".join(f"{p:g}" for p in np.percentile(atoms, [5, 25, 50, 75, 95, 100]))
    )
    histogram(atoms, [80, 100, 150, 200, 300, 400, 600, 1000], "atoms")
    print(
        f"  (unit cells themselves: median {np.median(unit_sizes):g}, max {unit_sizes.max()} atoms; "
        f"{np.sum(unit_sizes >= 80)} already have >= 80 and are used as they are)"
    )
    print("\nlongest / shortest supercell length")
    print(
        "  percentiles 50/75/90/95/max: "
        + " / ".join(f"{p:.2f}" for p in np.percentile(ratios, [50, 75, 90, 95, 100]))
    )
    histogram(ratios, [1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 8.0], "")


if __name__ == "__main__":
    main()
