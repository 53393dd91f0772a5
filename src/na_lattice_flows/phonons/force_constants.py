"""Second-order force constants from displaced supercells by a selectable method:

- ``phonopy``: phonopy's finite-displacement fit (one displaced atom per supercell, e.g. phononDB FORCE_SETS);
- ``symfc``: symmetry-adapted least squares (phonopy's ``fc_calculator="symfc"``), any displacement set;
- ``hiphive``: cluster-space least squares (hiphive + trainstation), any displacement set;
- ``pheasy``: compressive-sensing lattice dynamics (CSLD, the study's tool; LASSO with the rotational sum rules),
  run through its command line in a scratch folder as atomate2 does.

Every method ends with phonopy's symmetrisation, which imposes the translational acoustic sum rule.
"""

from __future__ import annotations

import logging
import pickle
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from phonopy import Phonopy

from na_lattice_flows.errors import InputError
from na_lattice_flows.phonons.references import DisplacementReference

FC_METHODS = ("phonopy", "symfc", "hiphive", "pheasy")
THIRD_ORDER_METHODS = ("symfc", "hiphive", "pheasy")

# pheasy 0.0.2, the release on PyPI, calls numpy.math (removed in NumPy 2, which the rest of the stack needs);
# it runs unchanged with numpy.math pointing at the standard math module, which is all numpy.math ever was.
PHEASY_ENTRY = "import math, sys, numpy; numpy.math = math; sys.argv[0] = 'pheasy'; from pheasy.run_pheasy import main; main()"


def default_method(reference: DisplacementReference) -> str:
    """symfc for random displacements, phonopy's own fit for finite displacements."""
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
        raise InputError(
            f"unknown force-constant method {method!r}; choose from {', '.join(FC_METHODS)}"
        )
    ph = reference.to_phonopy()
    if forces is not None:
        ph.forces = np.asarray(forces, dtype=float)
    if method in ("phonopy", "symfc"):
        if method == "phonopy" and reference.is_random_displacement:
            raise InputError(
                "phonopy's finite-displacement fit needs one displaced atom per supercell; use symfc, hiphive or pheasy"
            )
        # compact (n_primitive, n_supercell, 3, 3), phonopy's default form
        ph.produce_force_constants(
            fc_calculator="symfc" if method == "symfc" else None,
            calculate_full_force_constants=False,
        )
    elif method == "hiphive":
        ph.force_constants = _hiphive_fit(ph, cutoff_A)[0]
    else:
        ph.force_constants = _pheasy_fit(ph, cutoff_A)[0]
    ph.symmetrize_force_constants()
    return ph


def fit_third_order(
    reference: DisplacementReference,
    forces: np.ndarray | None = None,
    method: str = "symfc",
    cutoff_A: float | None = 5.0,
) -> np.ndarray:
    """Compact third-order force constants (n_primitive, n_supercell, n_supercell, 3, 3, 3), eV/A^3, phono3py's
    layout, fitted to a random-displacement set (finite displacements of one atom carry no third order).

    ``symfc`` fits orders 2 and 3 together; ``hiphive`` fits one cluster space of both orders by least squares;
    ``pheasy`` fits the harmonic part first and then the third order with it fixed (CSLD, LASSO), the study's
    two-step recipe. ``cutoff_A`` bounds the triplets (None: all the supercell holds; hiphive and pheasy need one).
    """
    if method not in THIRD_ORDER_METHODS:
        raise InputError(
            f"unknown third-order method {method!r}; choose from {', '.join(THIRD_ORDER_METHODS)}"
        )
    if not reference.is_random_displacement:
        raise InputError(
            "third-order force constants need random displacements (every atom displaced)"
        )
    if cutoff_A is None and method != "symfc":
        raise InputError(f"{method} needs a third-order cutoff (cutoff_A)")
    ph = reference.to_phonopy()
    if forces is not None:
        ph.forces = np.asarray(forces, dtype=float)
    if method == "symfc":
        return _symfc_fc3(ph, cutoff_A)
    if method == "hiphive":
        return _hiphive_fit(ph, None, cutoff_A)[1]
    return _pheasy_fit(ph, None, cutoff_A)[1]


def _symfc_fc3(ph: Phonopy, cutoff_A: float | None) -> np.ndarray:
    from symfc import Symfc
    from symfc.utils.utils import SymfcAtoms

    displacements, forces = _displacements_and_forces(ph)
    supercell = ph.supercell
    atoms = SymfcAtoms(
        numbers=supercell.numbers, cell=supercell.cell, scaled_positions=supercell.scaled_positions
    )
    fit = Symfc(
        atoms,
        displacements=displacements,
        forces=forces,
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


def _hiphive_fit(
    ph: Phonopy, cutoff2_A: float | None, cutoff3_A: float | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Full second-order and (with ``cutoff3_A``) compact third-order force constants from one hiphive cluster
    space fitted by least squares."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from hiphive import ClusterSpace, ForceConstantPotential, StructureContainer
    from hiphive.cutoffs import estimate_maximum_cutoff
    from hiphive.utilities import prepare_structures
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.phonopy import get_pmg_structure
    from trainstation import Optimizer

    ideal = AseAtomsAdaptor.get_atoms(get_pmg_structure(ph.supercell))
    primitive = AseAtomsAdaptor.get_atoms(get_pmg_structure(ph.primitive))
    cutoffs = [
        cutoff2_A or estimate_maximum_cutoff(ideal) - 1e-3
    ]  # the longest pair range the supercell allows
    if cutoff3_A is not None:
        cutoffs.append(cutoff3_A)
    displacements, forces = _displacements_and_forces(ph)
    structures = []
    for displacement, force in zip(displacements, forces, strict=True):
        atoms = ideal.copy()
        atoms.positions += displacement
        atoms.calc = SinglePointCalculator(atoms, forces=force)
        structures.append(atoms)
    hiphive_log = logging.getLogger("hiphive")  # hiphive reports every stage on stdout at INFO
    level = hiphive_log.level
    hiphive_log.setLevel(logging.WARNING)
    try:
        cluster_space = ClusterSpace(primitive, cutoffs)
        container = StructureContainer(cluster_space)
        for structure in prepare_structures(structures, ideal):
            container.add_structure(structure)
        optimizer = Optimizer(container.get_fit_data(), fit_method="least-squares", train_size=1.0)
        optimizer.train()
        fcs = ForceConstantPotential(cluster_space, optimizer.parameters).get_force_constants(ideal)
    finally:
        hiphive_log.setLevel(level)
    fc3 = None if cutoff3_A is None else _compact_fc3_from_clusters(fcs.get_fc_dict(order=3), ph)
    return fcs.get_fc_array(order=2, format="phonopy"), fc3


def _compact_fc3_from_clusters(clusters: dict, ph: Phonopy) -> np.ndarray:
    """phono3py's compact fc3 from hiphive's sorted triplets, expanded over index permutations, keeping the rows of
    the primitive-cell atoms. Written here because hiphive only builds the full N^3 array (2 GB at 216 atoms)."""
    from itertools import permutations

    n_atoms = len(ph.supercell)
    p2s = np.asarray(ph.primitive.p2s_map)
    row_of = {int(atom): row for row, atom in enumerate(p2s)}
    fc3 = np.zeros((len(p2s), n_atoms, n_atoms, 3, 3, 3))
    for cluster, values in clusters.items():
        for order in set(permutations(range(3))):
            i, j, k = (cluster[axis] for axis in order)
            if i in row_of:
                fc3[row_of[i], j, k] = np.transpose(values, order)
    return fc3


def _pheasy_fit(
    ph: Phonopy, cutoff2_A: float | None, cutoff3_A: float | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """pheasy's CSLD fits as atomate2 runs them: the harmonic fit (clusters, null space, sensing matrix, LASSO
    with the rotational sum rules) and, with ``cutoff3_A``, the third order on the same displacements with the
    harmonic part held fixed (atomate2's "cocktail" step). Returns full fc2 and compact fc3."""
    from phonopy.file_IO import parse_FORCE_CONSTANTS
    from phonopy.interface.vasp import write_vasp

    matrix = np.asarray(ph.supercell_matrix)
    if not np.allclose(matrix, np.diag(np.diag(matrix))):
        raise InputError("pheasy takes diagonal supercell matrices only")
    displacements, forces = _displacements_and_forces(ph)
    n = len(displacements)
    dim = " ".join(str(int(size)) for size in np.diag(matrix))
    with tempfile.TemporaryDirectory(prefix="pheasy-") as folder:
        work = Path(folder)
        write_vasp(work / "POSCAR", ph.unitcell)
        write_vasp(work / "SPOSCAR", ph.supercell)
        with (work / "disp_matrix.pkl").open("wb") as handle:
            pickle.dump(displacements, handle)
        with (work / "force_matrix.pkl").open("wb") as handle:
            pickle.dump(forces, handle)
        base = f"{shlex.quote(sys.executable)} -c {shlex.quote(PHEASY_ENTRY)} --scell SPOSCAR --dim {dim} --symprec 1e-3"
        harmonic = f"{base} -w 2" + ("" if cutoff2_A is None else f" --c2 {float(cutoff2_A)}")
        steps = [
            f"{harmonic} -s --nbody 2",  # clusters and orbits
            f"{harmonic} -c",  # null space of the symmetry constraints
            f"{harmonic} -d --ndata {n} --disp_file",  # sensing matrix from the displacements
            # LASSO with a tight tolerance (pheasy's default 1e-4 does not converge), seeded for reproducibility
            f"{harmonic} -f --full_ifc -l LASSO --std --tol 1e-8 --seed 1 --rasr BHH --ndata {n}",
        ]
        if cutoff3_A is not None:
            cubic = f"{base} -w 3 --c3 {float(cutoff3_A)}"
            steps += [
                f"{cubic} -s --nbody 2 3",
                f"{cubic} -c",
                f"{cubic} -d --ndata {n} --disp_file",
                f"{cubic} -f --fix_fc2 --fc2_fmt PHONOPY -l LASSO --alpha_min -12 --tol 1e-8 --seed 1 --ndata {n} --hdf5",
            ]
        for step in steps:
            run = subprocess.run(shlex.split(step), cwd=work, capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(
                    f"pheasy failed at `{step.split(' --symprec 1e-3 ')[-1]}`: {run.stderr.strip()[-800:]}"
                )
        if not (work / "FORCE_CONSTANTS").is_file() or (
            cutoff3_A is not None and not (work / "fc3.hdf5").is_file()
        ):
            raise RuntimeError(
                f"pheasy wrote no force constants; files left: {sorted(p.name for p in work.iterdir())}"
            )
        fc2 = parse_FORCE_CONSTANTS(str(work / "FORCE_CONSTANTS"))
        fc3 = None if cutoff3_A is None else _read_pheasy_fc3(work / "fc3.hdf5", ph)
        return fc2, fc3


def _read_pheasy_fc3(path: Path, ph: Phonopy) -> np.ndarray:
    """pheasy's fc3.hdf5 as compact rows of the primitive-cell atoms. pheasy writes one row per atom of its POSCAR
    (the unit cell, in phonopy's supercell order u2s_map) or, when full, one per supercell atom."""
    import h5py

    with h5py.File(path, "r") as handle:
        fc3 = np.asarray(handle["fc3"])
    rows = (
        np.asarray(ph.supercell.u2s_map)
        if fc3.shape[0] < len(ph.supercell)
        else np.arange(len(ph.supercell))
    )
    if fc3.shape[0] != len(rows):
        raise RuntimeError(f"pheasy's fc3 has {fc3.shape[0]} rows; expected {len(rows)}")
    row_of = {int(atom): row for row, atom in enumerate(rows)}
    return fc3[[row_of[int(atom)] for atom in ph.primitive.p2s_map]]
