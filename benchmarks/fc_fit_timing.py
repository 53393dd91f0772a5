"""Time the force-constant fits on the same data: 30 random-displacement supercells (0.03 A) of a 100-200 atom
paper supercell with MLP forces; second order with symfc, hiphive and pheasy, second + third order with symfc.
Prints seconds per fit and the RMS frequency difference of each method to symfc on a q-mesh.

    .venv/bin/python benchmarks/fc_fit_timing.py [--model 7net-0] [--supercells 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pymatgen.core import Structure

from na_lattice_flows.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.force_benchmark import predict_forces
from na_lattice_flows.force_constants import fit_force_constants, fit_third_order
from na_lattice_flows.models import get_calculator
from na_lattice_flows.references import random_displacement_reference
from na_lattice_flows.supercells import paper_supercell


def mesh_frequencies(ph, mesh=(6, 6, 6)) -> np.ndarray:
    ph.run_mesh(list(mesh), is_gamma_center=True)
    return ph.get_mesh_dict()["frequencies"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--supercells", type=int, default=30)
    parser.add_argument("--compounds", default="Na2S,Na3PS4")
    args = parser.parse_args()
    calculator = get_calculator(args.model)
    print(f"model {args.model}, {args.supercells} supercells with every atom displaced 0.03 A")
    print(f"{'compound':10s} {'atoms':>5s} {'method':16s} {'seconds':>8s} {'RMS dfreq vs symfc (THz)':>26s}")
    for compound in (c for c in DEMO_COMPOUNDS if c.name in args.compounds.split(",")):
        structure: Structure = compound.structure()
        matrix = paper_supercell(structure).supercell_matrix
        reference = random_displacement_reference(
            structure, matrix, lambda cells: predict_forces(cells, calculator), compound.name, n_supercells=args.supercells
        )
        n_atoms = len(structure) * int(round(abs(np.linalg.det(matrix))))
        baseline = None
        for method in ("symfc", "hiphive", "pheasy"):
            start = time.perf_counter()
            ph = fit_force_constants(reference, method=method)
            seconds = time.perf_counter() - start
            frequencies = mesh_frequencies(ph)
            baseline = frequencies if baseline is None else baseline
            rms = np.sqrt(np.mean((frequencies - baseline) ** 2))
            print(f"{compound.name:10s} {n_atoms:5d} {method + ' (2nd)':16s} {seconds:8.1f} {rms:26.3f}")
        start = time.perf_counter()
        fc3 = fit_third_order(reference)
        print(f"{compound.name:10s} {n_atoms:5d} {'symfc (2nd+3rd)':16s} {time.perf_counter() - start:8.1f} "
              f"{'fc3 ' + 'x'.join(map(str, fc3.shape)):>26s}")


if __name__ == "__main__":
    main()
