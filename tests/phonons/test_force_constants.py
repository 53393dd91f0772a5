"""Force-constant methods against an exactly known harmonic crystal, and the issue's cross-check: CSLD (pheasy)
and finite-displacement force constants from the same MLP give the same phonons."""

from __future__ import annotations

import numpy as np
import pytest
from phonopy import Phonopy
from pymatgen.core import Lattice, Structure
from pymatgen.io.phonopy import get_phonopy_structure

from na_lattice_flows.phonons.force_constants import FC_METHODS, fit_force_constants
from na_lattice_flows.phonons.references import DisplacementReference, reference_from_phonopy

QPOINTS = [[0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5], [0.25, 0, 0.25], [0.3, 0.1, 0.2]]


def rocksalt(a=5.64) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def spring_force_constants(ph: Phonopy, k: float = 1.2, cutoff: float = 3.0) -> np.ndarray:
    """Full force constants of central springs k (eV/A^2) between nearest neighbours: Phi_ij = -k r r^T for a
    bond of direction r, Phi_ii = -sum_j Phi_ij (acoustic sum rule by construction)."""
    cell = ph.supercell.cell
    positions = ph.supercell.positions
    n = len(positions)
    fc = np.zeros((n, n, 3, 3))
    for i in range(n):
        delta = positions - positions[i]
        frac = np.linalg.solve(cell.T, delta.T).T
        delta = (frac - np.rint(frac)) @ cell  # minimum image
        for j in np.flatnonzero((np.linalg.norm(delta, axis=1) < cutoff) & (np.arange(n) != i)):
            bond = delta[j] / np.linalg.norm(delta[j])
            fc[i, j] -= k * np.outer(bond, bond)
        fc[i, i] = -fc[i].sum(axis=0)
    return fc


def harmonic_reference(random: bool, n_snapshots: int = 6) -> tuple[DisplacementReference, Phonopy]:
    """Displaced supercells of rock salt with forces F = -Phi u from the spring model, exactly harmonic."""
    ph = Phonopy(
        get_phonopy_structure(rocksalt()),
        supercell_matrix=np.eye(3, dtype=int) * 2,
        primitive_matrix="auto",
    )
    if random:
        ph.generate_displacements(distance=0.03, number_of_snapshots=n_snapshots, random_seed=3)
    else:
        ph.generate_displacements(distance=0.01)
    fc = spring_force_constants(ph)
    displacements = np.array(
        [s.positions - ph.supercell.positions for s in ph.supercells_with_displacements]
    )
    displacements -= np.rint(displacements @ np.linalg.inv(ph.supercell.cell)) @ ph.supercell.cell
    ph.forces = -np.einsum("ijab,njb->nia", fc, displacements)
    exact = Phonopy(
        get_phonopy_structure(rocksalt()),
        supercell_matrix=np.eye(3, dtype=int) * 2,
        primitive_matrix="auto",
    )
    exact.force_constants = fc
    return reference_from_phonopy(ph, "spring NaCl", "test"), exact


def frequencies(ph: Phonopy) -> np.ndarray:
    ph.run_qpoints(QPOINTS)
    return ph.get_qpoints_dict()["frequencies"]


@pytest.mark.parametrize(  # pheasy (13 s) is also in the default run through the CSLD vs finite-displacement test
    "method",
    [
        pytest.param(m, marks=pytest.mark.slow) if m == "pheasy" else m
        for m in FC_METHODS
        if m != "phonopy"
    ],
)
def test_fitting_methods_recover_a_known_harmonic_crystal(method):
    reference, exact = harmonic_reference(random=True)
    fitted = fit_force_constants(reference, method=method)
    expected = frequencies(exact)
    assert expected.max() > 3.0  # a real phonon spectrum, not a trivial one
    np.testing.assert_allclose(frequencies(fitted), expected, atol=0.01)


def test_finite_displacement_fit_recovers_the_known_crystal():
    reference, exact = harmonic_reference(random=False)
    np.testing.assert_allclose(
        frequencies(fit_force_constants(reference, method="phonopy")), frequencies(exact), atol=1e-6
    )
    with pytest.raises(ValueError, match="one displaced atom per supercell"):
        fit_force_constants(harmonic_reference(random=True)[0], method="phonopy")
    with pytest.raises(ValueError, match="unknown force-constant method 'alm'"):
        fit_force_constants(reference, method="alm")


def test_csld_and_finite_displacements_from_the_same_mlp_agree_within_0p1_thz():
    """The issue's cross-check on NaCl: pheasy on 0.03 A random displacements vs phonopy's finite displacements
    of 0.01 A from the same MLP, frequencies on a q-mesh within 0.1 THz RMS. SevenNet-0, because its forces are
    linear down to 0.0025 A; CHGNet's have a noise floor of a few meV/A, so its 0.01 A finite-displacement
    force constants are off by up to 2 THz (measured: -F/u = 0.14, 0.64, 1.09 eV/A^2 at u = 0.005, 0.01,
    0.02 A on a Na in NaCl), which is why the paper fits 0.03 A random displacements."""
    from na_lattice_flows.models import get_calculator
    from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference

    calculator = get_calculator("7net-0")
    structure = rocksalt(5.69)  # near the MLPs' own (PBE-like) lattice constant
    matrix = (np.eye(3, dtype=int) * 2).tolist()
    random = random_displacement_reference(
        structure,
        matrix,
        lambda cells: predict_forces(cells, calculator),
        "NaCl",
        n_supercells=8,
        seed=5,
    )

    finite = Phonopy(
        get_phonopy_structure(structure), supercell_matrix=matrix, primitive_matrix="auto"
    )
    finite.generate_displacements(distance=0.01)
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.phonopy import get_pmg_structure

    finite.forces = predict_forces(
        [
            AseAtomsAdaptor.get_atoms(get_pmg_structure(s))
            for s in finite.supercells_with_displacements
        ],
        calculator,
    )
    fd = fit_force_constants(reference_from_phonopy(finite, "NaCl-fd", "test"), method="phonopy")
    csld = fit_force_constants(random, method="pheasy")
    for ph in (fd, csld):
        ph.run_mesh([6, 6, 6], is_gamma_center=True)
    difference = csld.get_mesh_dict()["frequencies"] - fd.get_mesh_dict()["frequencies"]
    assert np.sqrt(np.mean(difference**2)) < 0.1


def test_a_harmonic_crystal_has_no_third_order_force_constants():
    from na_lattice_flows.phonons.force_constants import fit_third_order

    reference, _ = harmonic_reference(random=True)
    fc3 = fit_third_order(reference)
    assert fc3.ndim == 6 and fc3.shape[-3:] == (3, 3, 3)
    assert np.abs(fc3).max() < 1e-6
    with pytest.raises(ValueError, match="need random displacements"):
        fit_third_order(harmonic_reference(random=False)[0])
    with pytest.raises(ValueError, match="unknown third-order method 'alm'"):
        fit_third_order(reference, method="alm")


class MorseBonds:
    """Rock salt held together by Morse bonds D (1 - exp(-a (r - r0)))^2 between nearest neighbours only (a fixed
    bond list, so the whole anharmonicity lies within a 3.5 A fit cutoff); forces in closed form, vectorised."""

    def __init__(
        self, ph: Phonopy, depth: float = 0.5, stiffness: float = 1.4, bond_cutoff: float = 3.2
    ):
        self.cell = ph.supercell.cell
        self.ideal = ph.supercell.positions
        self.depth, self.stiffness = depth, stiffness
        delta = self._minimum_image(self.ideal[None, :, :] - self.ideal[:, None, :])
        distance = np.linalg.norm(delta, axis=-1)
        self.i, self.j = np.nonzero(np.triu((distance > 0) & (distance < bond_cutoff)))
        self.r0 = distance[self.i, self.j]

    def _minimum_image(self, delta: np.ndarray) -> np.ndarray:
        frac = delta @ np.linalg.inv(self.cell)
        return (frac - np.rint(frac)) @ self.cell

    def forces(self, positions: np.ndarray) -> np.ndarray:
        bond = self._minimum_image(positions[self.j] - positions[self.i])
        r = np.linalg.norm(bond, axis=1)
        decay = np.exp(-self.stiffness * (r - self.r0))
        dE_dr = 2 * self.depth * self.stiffness * decay * (1 - decay)
        pull = (dE_dr / r)[:, None] * bond  # force on i along the bond when stretched
        forces = np.zeros_like(positions)
        np.add.at(forces, self.i, pull)
        np.add.at(forces, self.j, -pull)
        return forces


def morse_reference(n_snapshots: int = 20) -> tuple[DisplacementReference, Phonopy, MorseBonds]:
    ph = Phonopy(
        get_phonopy_structure(rocksalt()),
        supercell_matrix=np.eye(3, dtype=int) * 2,
        primitive_matrix="auto",
    )
    ph.generate_displacements(distance=0.03, number_of_snapshots=n_snapshots, random_seed=1)
    crystal = MorseBonds(ph)
    ph.forces = np.array(
        [crystal.forces(cell.positions) for cell in ph.supercells_with_displacements]
    )
    return reference_from_phonopy(ph, "Morse NaCl", "test"), ph, crystal


def finite_difference_fc3_block(
    crystal: MorseBonds, atom: int, others: list[int], h: float = 1e-3
) -> np.ndarray:
    """Phi_{atom, j, k}^{abc} = -d^2 F_atom^a / du_j^b du_k^c for j, k in ``others``, by central differences of the
    Morse forces: the independent reference for the fitted third order."""

    def force(shifts: list[tuple[int, int, float]]) -> np.ndarray:
        positions = crystal.ideal.copy()
        for index, axis, amount in shifts:
            positions[index, axis] += amount
        return crystal.forces(positions)[atom]

    block = np.zeros((len(others), len(others), 3, 3, 3))
    for jj, j in enumerate(others):
        for kk, k in enumerate(others):
            for b in range(3):
                for c in range(3):
                    second = (
                        force([(j, b, h), (k, c, h)])
                        - force([(j, b, h), (k, c, -h)])
                        - force([(j, b, -h), (k, c, h)])
                        + force([(j, b, -h), (k, c, -h)])
                    ) / (4 * h * h)
                    block[jj, kk, :, b, c] = -second
    return block


@pytest.mark.parametrize(
    "method",
    [
        "symfc",
        "hiphive",
        pytest.param("pheasy", marks=pytest.mark.slow),
    ],  # pheasy's CSLD fc3 fit: ~1 min
)
def test_third_order_fits_match_finite_differences_of_a_morse_crystal(method):
    """Each method's fc3 from 20 random 0.03 A supercells against the finite-difference third derivatives of the
    Morse energy, on the Na at the origin with itself and its six Cl neighbours (2 % of the largest element)."""
    from pymatgen.io.phonopy import get_pmg_structure

    from na_lattice_flows.phonons.force_constants import fit_third_order

    reference, ph, crystal = morse_reference()
    fc3 = fit_third_order(reference, method=method, cutoff_A=3.5)
    atom = int(ph.primitive.p2s_map[0])
    structure = get_pmg_structure(ph.supercell)
    neighbours = [n.index for n in structure.get_neighbors(structure[atom], 3.0)]
    assert len(neighbours) == 6
    others = [atom, *neighbours]
    expected = finite_difference_fc3_block(crystal, atom, others)
    fitted = fc3[0][np.ix_(others, others)]
    scale = np.abs(expected).max()
    assert scale > 1.0  # a real cubic anharmonicity (eV/A^3)
    np.testing.assert_allclose(fitted, expected, atol=0.02 * scale)


def test_benchmark_reports_ifc3_for_random_displacement_references():
    from ase.calculators.calculator import Calculator, all_changes

    from na_lattice_flows.benchmark.forces import evaluate_model, summarize
    from na_lattice_flows.phonons.references import displaced_supercells

    # 13 x 64 x 3 force components >= 2400
    reference, _ = harmonic_reference(random=True, n_snapshots=13)
    supercells = displaced_supercells(reference)
    table = [
        (atoms.positions.copy(), f) for atoms, f in zip(supercells, reference.forces, strict=True)
    ]

    class Replay(Calculator):
        implemented_properties = ("energy", "forces")

        def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            found = next(
                (f for pos, f in table if np.allclose(pos, atoms.positions)),
                np.zeros((len(atoms), 3)),
            )
            self.results = {"energy": 0.0, "forces": found}

    evaluation, _, _ = evaluate_model(reference, "replay", Replay())
    assert (
        evaluation.ifc3_rmse_eV_per_A3 == pytest.approx(0.0, abs=1e-10)
        and evaluation.n_ifc3_elements > 0
    )
    assert summarize([evaluation]).models["replay"].ifc3_rmse_eV_per_A3 == pytest.approx(
        0.0, abs=1e-10
    )
    # too little data for a third-order fit: left out by rule, not by failure
    small, _ = harmonic_reference(random=True, n_snapshots=6)
    small_cells = displaced_supercells(small)
    table[:] = [
        (atoms.positions.copy(), f) for atoms, f in zip(small_cells, small.forces, strict=True)
    ]
    assert evaluate_model(small, "replay", Replay())[0].ifc3_rmse_eV_per_A3 is None
