"""Does the screen's own relaxation change a model's stability verdict? The model selection (model_selection.py)
judges each force field on phononDB's DFT geometry (PBEsol); the screen first relaxes every candidate with the
model (cell and ions, space group kept, BFGS to 0.01 eV/A) and judges the phonons of that cell. A model whose
lattice is too large (PBE-trained models expand ionic cells by 3-6 %) may soften there into imaginary modes that
it does not have at the DFT geometry.

For each phononDB archive given (or the DFT-stable ones of the dev set and the validation materials), the
model's harmonic verdict three ways, on the archive's supercell, with the screen's 30 random-displacement
supercells at 0.03 A and symfc (the model's forces on the undisplaced supercell subtracted): at the DFT cell
and positions; at the DFT cell with the ions relaxed by the model;
at the model's relaxed cell and ions (the screen). Resumable: one JSON line per (archive, model) in
benchmarks/records/geometry_verdicts.jsonl; one torch thread.

    .venv/bin/python benchmarks/geometry_verdicts.py [--model 7net-0] [--n 8] [ARCHIVES ...]
    .venv/bin/python benchmarks/geometry_verdicts.py --table-only
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

RECORD = Path(__file__).resolve().parent / "records" / "geometry_verdicts.jsonl"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GEOMETRIES = ("dft_cell", "dft_cell_relaxed_ions", "relaxed_cell")


def default_archives(n: int) -> list[Path]:
    """The first n DFT-stable archives of the model selection's sets (dev, then validation), by name."""
    from na_lattice_flows.benchmark.splits import split_by_material

    rows = [
        json.loads(line)
        for line in (RECORD.parent / "model_selection.jsonl").read_text().splitlines()
        if line.strip()
    ]
    stable = {r["structure"] for r in rows if r.get("dft_stability", {}).get("dynamically_stable")}
    candidates = (
        sorted((SHARED / "phonondb_dev").glob("*.tar.lzma"))
        + split_by_material((SHARED / "phonondb_train").glob("*.tar.lzma"))["validation"]
    )
    return [path for path in candidates if path.name.split(".")[0] in stable][:n]


def verdicts(path: Path, model: str) -> dict:
    """The DFT verdict and the model's at the three geometries (module docstring)."""
    import numpy as np
    from atomate2.ase.utils import AseRelaxer

    from na_lattice_flows.models import get_calculator
    from na_lattice_flows.phonons.force_constants import fit_force_constants
    from na_lattice_flows.phonons.references import (
        load_reference,
        predict_forces,
        random_displacement_reference,
    )
    from na_lattice_flows.phonons.stability import stability_screen

    reference = load_reference(path)
    dft = stability_screen(fit_force_constants(reference, method="symfc"))[0]
    calculator = get_calculator(model)
    start = time.monotonic()
    cells = {"dft_cell": reference.unitcell}
    for name, relax_cell in (("dft_cell_relaxed_ions", False), ("relaxed_cell", True)):
        cells[name] = (
            AseRelaxer(
                calculator, optimizer="BFGS", relax_cell=relax_cell, fix_symmetry=True, symprec=0.01
            )
            .relax(reference.unitcell, fmax=0.01, steps=1000)
            .final_mol_or_struct
        )
    row = {
        "structure": path.name.split(".")[0],
        "formula": reference.unitcell.composition.reduced_formula,
        "model": model,
        "n_atoms_supercell": len(reference.unitcell)
        * round(abs(np.linalg.det(reference.supercell_matrix))),
        "dft_stable": dft.dynamically_stable,
        "dft_min_frequency_thz": dft.min_frequency_thz,
        "volume_change_percent": 100
        * (cells["relaxed_cell"].volume / reference.unitcell.volume - 1),
    }
    for name, structure in cells.items():
        # the model's forces on the undisplaced supercell taken off (at the DFT positions they are not zero)
        model_reference = random_displacement_reference(
            structure,
            reference.supercell_matrix,
            lambda supercells: predict_forces(supercells, calculator),
            name=f"{row['structure']} {name}",
            remove_residual_forces=True,
        )
        verdict = stability_screen(fit_force_constants(model_reference, method="symfc"))[0]
        row[f"{name}_stable"] = verdict.dynamically_stable
        row[f"{name}_min_frequency_thz"] = verdict.min_frequency_thz
        row[f"{name}_reason"] = verdict.reason
    row["seconds"] = time.monotonic() - start
    return row


def table() -> str:
    import pandas as pd

    rows = pd.DataFrame(
        [json.loads(line) for line in RECORD.read_text().splitlines() if line.strip()]
    )
    shown = ["structure", "formula", "model", "dft_stable", "volume_change_percent"] + [
        f"{g}_min_frequency_thz" for g in GEOMETRIES
    ]
    lines = [rows[shown].to_string(index=False, float_format=lambda v: f"{v:.2f}")]
    for (model, dft_stable), group in rows.groupby(["model", "dft_stable"]):
        agreement = ", ".join(
            f"{g}: {int((group[f'{g}_stable'] == dft_stable).sum())}/{len(group)}"
            for g in GEOMETRIES
        )
        lines.append(
            f"{model}, DFT {'stable' if dft_stable else 'unstable'}: agreement {agreement}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("archives", nargs="*", type=Path)
    parser.add_argument(
        "--model", default=None, help="registry name (default: the settings' model)"
    )
    parser.add_argument("--n", type=int, default=8, help="archives when none are given")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    if not args.table_only:
        import torch

        from na_lattice_flows.settings import SETTINGS

        torch.set_num_threads(1)
        warnings.filterwarnings("ignore")
        model = args.model or SETTINGS.default_model
        done = set()
        if RECORD.is_file():
            done = {
                (r["structure"], r["model"])
                for r in map(json.loads, filter(None, RECORD.read_text().splitlines()))
            }
        for path in args.archives or default_archives(args.n):
            if (path.name.split(".")[0], model) in done:
                continue
            row = verdicts(path, model)
            print(json.dumps(row), flush=True)
            with RECORD.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
    print(table())


if __name__ == "__main__":
    main()
