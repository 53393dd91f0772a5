"""Time the force-constant fits on the same data: 30 random-displacement supercells (0.03 A) of a 100-200 atom
paper supercell with MLP forces. Second order alone, and second + third order, with symfc, hiphive and pheasy.
Prints seconds per fit, the RMS frequency difference of each second order to symfc's on a q-mesh, and the
relative RMS difference of each third order to symfc's.

    .venv/bin/python benchmarks/fc_fit_timing.py [--model 7net-0] [--supercells 30] [--cutoff3 4.0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from pymatgen.core import Structure

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.models import get_calculator
from na_lattice_flows.phonons.force_constants import (
    THIRD_ORDER_METHODS,
    fit_force_constants,
    fit_third_order,
)
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
from na_lattice_flows.structure.supercells import paper_supercell


def mesh_frequencies(ph, mesh=(6, 6, 6)) -> np.ndarray:
    ph.run_mesh(list(mesh), is_gamma_center=True)
    return ph.mesh.frequencies


def relaxed(structure: Structure, calculator, fmax: float = 1e-3) -> Structure:
    """Relax cell and positions with the same MLP first, as the screening flow does: on an unrelaxed cell the
    residual forces enter each fit differently and the comparison says nothing about the fits."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax, steps=500)
    return symmetrized(AseAtomsAdaptor.get_structure(atoms))


def symmetrized(structure: Structure, symprec: float = 1e-3) -> Structure:
    """The relaxed cell with its space group restored exactly: BFGS leaves ~1e-4 A noise that phonopy (symprec
    1e-5) reads as a lower symmetry, and hiphive's cluster space then grows by orders of magnitude."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
    for candidate in (
        analyzer.get_refined_structure(),
        analyzer.get_primitive_standard_structure(),
    ):
        # keep the cell size, so the paper supercell is the same
        if len(candidate) == len(structure):
            return candidate
    return structure


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--supercells", type=int, default=30)
    parser.add_argument("--compounds", default="Na2S,Na3PS4")
    parser.add_argument(
        "--cutoff3", type=float, default=4.0, help="third-order cutoff, A (default 4.0)"
    )
    args = parser.parse_args()
    calculator = get_calculator(args.model)
    print(
        f"model {args.model}, {args.supercells} supercells with every atom displaced 0.03 A, fc3 cutoff {args.cutoff3} A"
    )
    print(f"{'compound':10s} {'atoms':>5s} {'fit':22s} {'seconds':>8s} {'vs symfc':>30s}")
    for compound in (c for c in DEMO_COMPOUNDS if c.name in args.compounds.split(",")):
        structure = relaxed(compound.structure(), calculator)
        matrix = paper_supercell(structure).supercell_matrix
        reference = random_displacement_reference(
            structure,
            matrix,
            lambda cells: predict_forces(cells, calculator),
            compound.name,
            n_supercells=args.supercells,
        )
        n_atoms = len(structure) * int(round(abs(np.linalg.det(matrix))))
        baseline = None
        for method in THIRD_ORDER_METHODS:
            start = time.perf_counter()
            ph = fit_force_constants(reference, method=method)
            seconds = time.perf_counter() - start
            frequencies = mesh_frequencies(ph)
            baseline = frequencies if baseline is None else baseline
            rms = np.sqrt(np.mean((frequencies - baseline) ** 2))
            print(
                f"{compound.name:10s} {n_atoms:5d} {method + ' 2nd':22s} {seconds:8.1f} {f'{rms:.3f} THz RMS':>30s}",
                flush=True,
            )
        fc3_baseline = None
        for method in THIRD_ORDER_METHODS:
            start = time.perf_counter()
            fc3 = fit_third_order(reference, method=method, cutoff_A=args.cutoff3)
            seconds = time.perf_counter() - start
            fc3_baseline = fc3 if fc3_baseline is None else fc3_baseline
            relative = np.sqrt(np.mean((fc3 - fc3_baseline) ** 2) / np.mean(fc3_baseline**2))
            print(
                f"{compound.name:10s} {n_atoms:5d} {method + ' 2nd+3rd':22s} {seconds:8.1f} {f'fc3 {relative:.3f} relative RMS':>30s}",
                flush=True,
            )


if __name__ == "__main__":
    main()
