"""Dynamic-stability verdicts on the phononDB dev archives (VASP PBEsol force sets, phonopy's finite-displacement
fit), three ways: 0.1's rule (acoustic branches within 0.15 of Gamma may dip to -0.5 THz), the classification of
each imaginary mode as fitted (acoustic artifact near Gamma or soft mode), and ``stability_screen`` (the
rotational sum rules enforced where acoustic modes dip near Gamma). Prints one row per archive and the
changes, and writes them as CSV.

    .venv/bin/python benchmarks/stability_verdicts.py [ARCHIVES...] [--csv benchmarks/output/stability_verdicts.csv]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import load_reference
from na_lattice_flows.phonons.stability import (
    dynamic_stability,
    mesh_and_path_frequencies,
    stability_screen,
)

DEV_ARCHIVES = Path(__file__).resolve().parents[2] / "shared" / "data" / "phonondb_dev"


def rule_0_1(ph) -> bool:
    """0.1's verdict: every frequency >= -0.1 THz, except the three acoustic branches within 0.15 (reduced |q|) of
    Gamma, which may dip to -0.5 THz."""
    qpoints, frequencies = mesh_and_path_frequencies(ph)
    frequencies = np.sort(frequencies, axis=1)
    limits = np.full(frequencies.shape, -0.1)
    limits[np.linalg.norm(qpoints - np.rint(qpoints), axis=1) <= 0.15, :3] = -0.5
    return bool(np.all(frequencies >= limits))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "archives", nargs="*", help="default: every archive in ../shared/data/phonondb_dev"
    )
    parser.add_argument("--csv", default="benchmarks/output/stability_verdicts.csv")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    archives = [Path(a) for a in args.archives] or sorted(DEV_ARCHIVES.glob("*.tar.lzma"))
    rows = []
    for archive in archives:
        reference = load_reference(archive)
        ph = fit_force_constants(reference)
        old = rule_0_1(ph)
        fitted = dynamic_stability(ph)
        start = time.perf_counter()
        screened, _ = stability_screen(ph)
        seconds = time.perf_counter() - start
        row = {
            "archive": archive.name.split(".")[0],
            "formula": reference.unitcell.composition.reduced_formula,
            "supercell_atoms": len(ph.supercell),
            "dim": "x".join(str(int(round(d))) for d in np.diag(reference.supercell_matrix)),
            "stable_0_1": old,
            "rule_as_fitted": fitted.rule,
            "min_thz_as_fitted": round(fitted.min_frequency_thz, 3),
            "q_as_fitted": fitted.min_frequency_qpoint,
            "overlap_as_fitted": fitted.min_frequency_translation_overlap,
            "stable_now": screened.dynamically_stable,
            "rule_now": screened.rule,
            "sum_rules": screened.rotational_sum_rules,
            "min_thz_now": round(screened.min_frequency_thz, 3),
            "softest_soft_mode_thz": screened.softest_soft_mode_thz,
            "screen_s": round(seconds, 1),
        }
        rows.append(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    changed = table[table["stable_0_1"] != table["stable_now"]]
    print(
        f"\n{len(table)} archives: stable by 0.1's rule {int(table['stable_0_1'].sum())}, now {int(table['stable_now'].sum())}; "
        f"sum rules applied to {int(table['sum_rules'].sum())}; verdict changed for {len(changed)}"
    )
    if len(changed):
        print(
            changed[
                [
                    "archive",
                    "formula",
                    "dim",
                    "stable_0_1",
                    "stable_now",
                    "min_thz_as_fitted",
                    "q_as_fitted",
                    "rule_now",
                    "min_thz_now",
                ]
            ].to_string(index=False)
        )


if __name__ == "__main__":
    main()
