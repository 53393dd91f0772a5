"""DFT's harmonic stability verdict of every phononDB archive here (`../shared/data/phonondb_dev` and
`phonondb_train`): phonopy on the archive's VASP PBEsol force set, judged by the screen's rule
(`stability_screen`, no mode below -0.1 THz on its q-mesh, acoustic artifacts near Gamma handled as for
the models). No model, no torch: ~1-10 s per archive on one core.

Why: the campaign (`campaign_md.py`, issue 32) draws its sample from the pool, and these verdicts say which
pool structures DFT calls stable at 0 K; the model selection (`model_selection.py`) counts its agreement
against the same verdicts. Resumable: one row per archive in benchmarks/records/dft_verdicts.csv.

    .venv/bin/python benchmarks/dft_verdicts.py [--summary-only]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED = REPOSITORY.parent / "shared" / "data"
RECORD = REPOSITORY / "benchmarks" / "records" / "dft_verdicts.csv"
SETS = ("phonondb_dev", "phonondb_train")
COLUMNS = (
    "material_id",
    "set",
    "formula",
    "n_atoms_supercell",
    "dft_stable",
    "min_frequency_thz",
    "min_frequency_qpoint",
    "rule",
    "error",
    "seconds",
)


def read_verdicts(path: Path = RECORD) -> dict[str, dict]:
    """The recorded rows by material id (empty without a record)."""
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {row["material_id"]: row for row in csv.DictReader(handle)}


def dft_stable_ids(path: Path = RECORD) -> set[str]:
    """Material ids whose DFT force set is judged stable."""
    return {key for key, row in read_verdicts(path).items() if row["dft_stable"] == "True"}


def verdict_row(archive: Path, set_name: str) -> dict:
    """One archive's row; a broken archive is a row with its error, not a stop."""
    from na_lattice_flows.phonons.force_constants import fit_force_constants
    from na_lattice_flows.phonons.references import ReferenceError, load_reference
    from na_lattice_flows.phonons.stability import stability_screen

    start = time.monotonic()
    row = {"material_id": archive.name.split(".")[0], "set": set_name}
    try:
        reference = load_reference(archive)
        n_cells = round(abs(np.linalg.det(reference.supercell_matrix)))
        verdict = stability_screen(fit_force_constants(reference))[0]
    except (ReferenceError, ValueError, RuntimeError) as exc:
        return {**row, "error": f"{type(exc).__name__}: {exc}"}
    return {
        **row,
        "formula": reference.unitcell.composition.reduced_formula,
        "n_atoms_supercell": len(reference.unitcell) * n_cells,
        "dft_stable": verdict.dynamically_stable,
        "min_frequency_thz": round(verdict.min_frequency_thz, 4),
        "min_frequency_qpoint": " ".join(f"{x:.4f}" for x in verdict.min_frequency_qpoint),
        "rule": verdict.rule,
        "error": "",
        "seconds": round(time.monotonic() - start, 1),
    }


def summary(path: Path = RECORD) -> str:
    rows = list(read_verdicts(path).values())
    lines = []
    for set_name in SETS:
        judged = [r for r in rows if r["set"] == set_name and not r["error"]]
        stable = sum(r["dft_stable"] == "True" for r in judged)
        failed = sum(1 for r in rows if r["set"] == set_name and r["error"])
        lines.append(f"{set_name}: {stable}/{len(judged)} DFT-stable ({failed} archives not read)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    if not args.summary_only:
        if not SHARED.exists():
            raise SystemExit(f"{SHARED} is missing: the phononDB archives live there")
        done = read_verdicts()
        todo = [
            (archive, set_name)
            for set_name in SETS
            for archive in sorted((SHARED / set_name).glob("*.tar.lzma"))
            if archive.name.split(".")[0] not in done
        ]
        new_file = not RECORD.exists()
        with RECORD.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            if new_file:
                writer.writeheader()
            for archive, set_name in tqdm(todo, desc="DFT verdicts"):
                writer.writerow(verdict_row(archive, set_name))
                handle.flush()
    print(summary())


if __name__ == "__main__":
    main()
