"""Second-order force constants from displaced supercells by a selectable method:

- ``phonopy``: phonopy's finite-displacement fit (one displaced atom per supercell, e.g. phononDB FORCE_SETS);
- ``symfc``: symmetry-adapted least squares (phonopy's ``fc_calculator="symfc"``), any displacement set;
- ``hiphive``: cluster-space least squares (hiphive + trainstation), any displacement set;
- ``pheasy``: compressive-sensing lattice dynamics (CSLD, the study's tool; LASSO with the rotational sum rules),
  run through its command line in a scratch folder as atomate2 does.

Every method ends with phonopy's symmetrisation, which imposes the translational acoustic sum rule.
"""

from __future__ import annotations

import pickle
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from phonopy import Phonopy

from na_lattice_flows.references import DisplacementReference

FC_METHODS = ("phonopy", "symfc", "hiphive", "pheasy")

# pheasy 0.0.2, the release on PyPI, calls numpy.math (removed in NumPy 2, which the rest of the stack needs);
# it runs unchanged with numpy.math pointing at the standard math module, which is all numpy.math ever was.
PHEASY_ENTRY = "import math, sys, numpy; numpy.math = math; sys.argv[0] = 'pheasy'; from pheasy.run_pheasy import main; main()"


def default_method(reference: DisplacementReference) -> str:
    return "symfc" if reference.is_random_displacement else "phonopy"


def fit_force_constants(
    reference: DisplacementReference,
    forces: np.ndarray | None = None,
    method: str | None = None,
    cutoff_A: float | None = None,
) -> Phonopy:
    """A Phonopy object with second-order force constants fitted to ``forces`` (default: the reference's own)
    on the reference's displacements. ``cutoff_A`` limits the pair range for hiphive and pheasy."""
    method = method or default_method(reference)
    if method not in FC_METHODS:
        raise ValueError(f"unknown force-constant method {method!r}; choose from {', '.join(FC_METHODS)}")
    ph = reference.to_phonopy()
    if forces is not None:
        ph.forces = np.asarray(forces, dtype=float)
    if method in ("phonopy", "symfc"):
        if method == "phonopy" and reference.is_random_displacement:
            raise ValueError("phonopy's finite-displacement fit needs one displaced atom per supercell; use symfc, hiphive or pheasy")
        # compact (n_primitive, n_supercell, 3, 3), phonopy's default form
        ph.produce_force_constants(fc_calculator="symfc" if method == "symfc" else None, calculate_full_force_constants=False)
    elif method == "hiphive":
        ph.force_constants = _hiphive_fc2(ph, cutoff_A)
    else:
        ph.force_constants = _pheasy_fc2(ph, cutoff_A)
    ph.symmetrize_force_constants()
    return ph


def fit_third_order(
    reference: DisplacementReference, forces: np.ndarray | None = None, cutoff_A: float | None = 5.0
) -> np.ndarray:
    """Compact third-order force constants (n_primitive, n_supercell, n_supercell, 3, 3, 3), eV/A^3, fitted with
    the second order by symfc to a random-displacement set (finite displacements of one atom carry no third
    order). ``cutoff_A`` bounds the triplets (None: all in the supercell)."""
    from symfc import Symfc
    from symfc.utils.utils import SymfcAtoms

    if not reference.is_random_displacement:
        raise ValueError("third-order force constants need random displacements (every atom displaced)")
    ph = reference.to_phonopy()
    displacements, own_forces = _displacements_and_forces(ph)
    supercell = ph.supercell
    atoms = SymfcAtoms(numbers=supercell.numbers, cell=supercell.cell, scaled_positions=supercell.scaled_positions)
    fit = Symfc(
        atoms,
        displacements=displacements,
        forces=own_forces if forces is None else np.asarray(forces, dtype=float),
        cutoff=None if cutoff_A is None else {3: cutoff_A},
    )
    return fit.run(orders=[2, 3]).force_constants[3]


def _displacements_and_forces(ph: Phonopy) -> tuple[np.ndarray, np.ndarray]:
    """Full displacement and force arrays (n_supercells, n_atoms, 3) of any phonopy dataset."""
    n_atoms = len(ph.supercell)
    forces = np.asarray(ph.forces, dtype=float)
    dataset = ph.dataset
    if "displacements" in dataset:
        return np.asarray(dataset["displacements"], dtype=float), forces
    displacements = np.zeros((len(dataset["first_atoms"]), n_atoms, 3))
    for i, entry in enumerate(dataset["first_atoms"]):
        displacements[i, entry["number"]] = entry["displacement"]
    return displacements, forces


def _hiphive_fc2(ph: Phonopy, cutoff_A: float | None) -> np.ndarray:
    from ase.calculators.singlepoint import SinglePointCalculator
    from hiphive import ClusterSpace, ForceConstantPotential, StructureContainer
    from hiphive.cutoffs import estimate_maximum_cutoff
    from hiphive.utilities import prepare_structures
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.phonopy import get_pmg_structure
    from trainstation import Optimizer

    ideal = AseAtomsAdaptor.get_atoms(get_pmg_structure(ph.supercell))
    primitive = AseAtomsAdaptor.get_atoms(get_pmg_structure(ph.primitive))
    cutoff = cutoff_A or estimate_maximum_cutoff(ideal) - 1e-3  # the longest pair range the supercell allows
    displacements, forces = _displacements_and_forces(ph)
    structures = []
    for displacement, force in zip(displacements, forces, strict=True):
        atoms = ideal.copy()
        atoms.positions += displacement
        atoms.calc = SinglePointCalculator(atoms, forces=force)
        structures.append(atoms)
    cluster_space = ClusterSpace(primitive, [cutoff])
    container = StructureContainer(cluster_space)
    for structure in prepare_structures(structures, ideal):
        container.add_structure(structure)
    optimizer = Optimizer(container.get_fit_data(), fit_method="least-squares", train_size=1.0)
    optimizer.train()
    potential = ForceConstantPotential(cluster_space, optimizer.parameters)
    return potential.get_force_constants(ideal).get_fc_array(order=2, format="phonopy")


def _pheasy_fc2(ph: Phonopy, cutoff_A: float | None) -> np.ndarray:
    """pheasy's harmonic CSLD fit: clusters, null space, sensing matrix, LASSO fit with the rotational sum rules."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS
    from phonopy.interface.vasp import write_vasp

    matrix = np.asarray(ph.supercell_matrix)
    if not np.allclose(matrix, np.diag(np.diag(matrix))):
        raise ValueError("pheasy takes diagonal supercell matrices only")
    displacements, forces = _displacements_and_forces(ph)
    with tempfile.TemporaryDirectory(prefix="pheasy-") as folder:
        work = Path(folder)
        write_vasp(work / "POSCAR", ph.unitcell)
        write_vasp(work / "SPOSCAR", ph.supercell)
        with (work / "disp_matrix.pkl").open("wb") as handle:
            pickle.dump(displacements, handle)
        with (work / "force_matrix.pkl").open("wb") as handle:
            pickle.dump(forces, handle)
        dim = " ".join(str(int(n)) for n in np.diag(matrix))
        base = f"{shlex.quote(sys.executable)} -c {shlex.quote(PHEASY_ENTRY)} --scell SPOSCAR --dim {dim} -w 2 --symprec 1e-3"
        if cutoff_A is not None:
            base += f" --c2 {float(cutoff_A)}"
        n = len(displacements)
        steps = [
            f"{base} -s --nbody 2",  # clusters and orbits
            f"{base} -c",  # null space of the symmetry constraints
            f"{base} -d --ndata {n} --disp_file",  # sensing matrix from the displacements
            # LASSO with a tight tolerance (pheasy's default 1e-4 does not converge), seeded for reproducibility
            f"{base} -f --full_ifc -l LASSO --std --tol 1e-8 --seed 1 --rasr BHH --ndata {n}",
        ]
        for step in steps:
            run = subprocess.run(shlex.split(step), cwd=work, capture_output=True, text=True)
            if run.returncode != 0 or (step is steps[-1] and not (work / "FORCE_CONSTANTS").is_file()):
                raise RuntimeError(f"pheasy failed at `{step.split(' -w 2 ')[-1]}`: {run.stderr.strip()[-800:]}")
        return parse_FORCE_CONSTANTS(str(work / "FORCE_CONSTANTS"))
