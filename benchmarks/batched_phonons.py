"""Phonon forces of many structures: one structure at a time through the model's ASE calculator (what
`mlp_phonons` does) against one batched torch-sim call per displacement step over all of them
(`mlp_phonons_batch`), on the same seeded random-displacement supercells of a seeded sample of the candidate
pool. Prints the seconds of each, their ratio, structures per second and the largest force difference. The
force-constant fit after the forces is the same code either way and is not timed.

    .venv/bin/python benchmarks/batched_phonons.py [--n-structures 16] [--n-supercells 30] [--model 7net-0] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from na_lattice_flows.candidates.loaders import load_csv
from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates
from na_lattice_flows.models import get_calculator, get_torchsim_model
from na_lattice_flows.phonons.batched_forces import batched_forces
from na_lattice_flows.phonons.references import (
    displaced_atoms,
    predict_forces,
    random_displacements,
)
from na_lattice_flows.structure.supercells import paper_supercell

DEFAULT_POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL)
    parser.add_argument("--n-structures", type=int, default=16)
    parser.add_argument("--n-supercells", type=int, default=30)
    parser.add_argument(
        "--max-sites",
        type=int,
        default=40,
        help="largest unit cell drawn (supercells stay >= 80 atoms)",
    )
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--max-atoms-per-call", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    accepted = screen_candidates(
        load_csv(args.pool), ScreeningCriteria(max_sites=args.max_sites)
    ).accepted
    sample = random.Random(args.seed).sample(accepted, args.n_structures)
    displacements = []
    for candidate in sample:
        matrix = paper_supercell(candidate.structure).supercell_matrix
        displacements.append(
            displaced_atoms(random_displacements(candidate.structure, matrix, args.n_supercells))
        )
    n_atoms = [len(cells[0]) for cells in displacements]
    print(
        f"{len(sample)} pool structures, supercells of {min(n_atoms)}-{max(n_atoms)} atoms ({sum(n_atoms)} per step), "
        f"{args.n_supercells} displaced supercells each, model {args.model}"
    )

    calculator = get_calculator(args.model, args.device)
    model = get_torchsim_model(args.model, args.device)
    predict_forces(displacements[0][:1], calculator)  # first calls compile and allocate: not timed
    batched_forces([cells[:1] for cells in displacements], model, args.max_atoms_per_call)

    start = time.perf_counter()
    one_by_one = [predict_forces(cells, calculator) for cells in displacements]
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = batched_forces(displacements, model, args.max_atoms_per_call, progress=True)
    batched_s = time.perf_counter() - start

    difference = max(np.abs(a - b).max() for a, b in zip(one_by_one, batched, strict=True))
    print(
        f"device {model.device}: one structure at a time {single_s:.1f} s ({len(sample) / single_s:.3f} structures/s); "
        f"batched {batched_s:.1f} s ({len(sample) / batched_s:.3f} structures/s); ratio {single_s / batched_s:.2f}"
    )
    print(f"largest force difference between the two paths: {difference:.2e} eV/A")


if __name__ == "__main__":
    main()
