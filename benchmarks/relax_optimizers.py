"""Which ASE optimizer relaxes the screen's structures fastest to the same minimum: atomate2's default FIRE
against BFGS and LBFGS, with the screen's settings (7net-0, cell and positions, space group kept, forces below
0.01 eV/A), on pool structures. Prints optimizer steps, seconds, and how far each minimum lies from FIRE's
(energy per atom, largest lattice-length difference).

    .venv/bin/python benchmarks/relax_optimizers.py [--ids mp-558597,mp-557696] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from atomate2.ase.utils import AseRelaxer
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.models import get_calculator
from na_lattice_flows.settings import SETTINGS

POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)


def pool_structures(ids: list[str]) -> dict[str, Structure]:
    csv.field_size_limit(10**7)
    with POOL.open(newline="") as handle:
        rows = {row["material_id"]: row for row in csv.DictReader(handle)}
    return {i: Structure.from_str(rows[i]["poscar_unitcell_phonondb"], fmt="poscar") for i in ids}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ids", default="mp-558597,mp-557696")
    parser.add_argument("--optimizers", default="FIRE,BFGS,LBFGS")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    calculator = get_calculator(SETTINGS.default_model)
    for name, structure in pool_structures(args.ids.split(",")).items():
        reference = None
        for optimizer in args.optimizers.split(","):
            relaxer = AseRelaxer(
                calculator, optimizer=optimizer, relax_cell=True, fix_symmetry=True, symprec=0.01
            )
            start = time.monotonic()
            result = relaxer.relax(structure.copy(), fmax=0.01, steps=1000)
            seconds = time.monotonic() - start
            final = result.final_mol_or_struct
            atoms = AseAtomsAdaptor.get_atoms(final)
            atoms.calc = calculator
            energy = atoms.get_potential_energy() / len(final)
            if reference is None:
                reference = (energy, np.array(final.lattice.abc))
            print(
                f"{name} ({len(structure)} atoms) {optimizer:6s}: {len(result.trajectory)} steps, {seconds:6.1f} s, "
                f"converged {result.converged}; "
                f"vs FIRE: dE {1000 * (energy - reference[0]):+.3f} meV/atom, "
                f"max |d abc| {np.abs(np.array(final.lattice.abc) - reference[1]).max():.4f} A",
                flush=True,
            )


if __name__ == "__main__":
    main()
