"""The paper's supercell rule against hand-worked cases and a brute-force search over diagonal multiples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from na_lattice_flows.structure.supercells import paper_supercell


def cell(a, b, c, n_atoms) -> Structure:
    rng = np.random.default_rng(0)
    return Structure(Lattice.orthorhombic(a, b, c), ["Na"] * n_atoms, rng.random((n_atoms, 3)))


def dominating_alternatives(structure: Structure, min_atoms: int = 80, max_repeat: int = 12):
    """Diagonal supercells (brute force) with >= min_atoms that beat the chosen one on atoms and on length ratio."""
    chosen = paper_supercell(structure, min_atoms)
    n, abc = len(structure), np.array(structure.lattice.abc)
    multiples = np.array(list(itertools.product(range(1, max_repeat + 1), repeat=3)))
    atoms = n * multiples.prod(axis=1)
    lengths = multiples * abc
    ratio = lengths.max(axis=1) / lengths.min(axis=1)
    eps = 1e-4
    better = (atoms >= min_atoms) & (
        ((atoms <= chosen.n_atoms) & (ratio < chosen.length_ratio * (1 - eps)))
        | ((atoms < chosen.n_atoms) & (ratio <= chosen.length_ratio * (1 + eps)))
    )
    return multiples[better]


def test_cubic_eight_atom_cell_needs_three_repeats():
    # 2x2x2 holds 64 < 80 atoms, so 3x3x3 = 216 is the smallest with equal lengths
    choice = paper_supercell(cell(5.64, 5.64, 5.64, 8))
    assert choice.supercell_matrix == [[3, 0, 0], [0, 3, 0], [0, 0, 3]]
    assert choice.n_atoms == 216
    assert choice.length_ratio == pytest.approx(1.0)


def test_tetragonal_cell_by_hand():
    # a = 4, c = 12, 6 atoms: 4x4x1 = 96 atoms with lengths 16, 16, 12 (ratio 4/3); 3x3x1 = 54 is too small,
    # and nothing with <= 96 atoms has more equal lengths.
    choice = paper_supercell(cell(4.0, 4.0, 12.0, 6))
    assert choice.supercell_matrix == [[4, 0, 0], [0, 4, 0], [0, 0, 1]]
    assert choice.n_atoms == 96
    assert choice.length_ratio == pytest.approx(4 / 3)


def test_large_unit_cell_is_kept_and_lengths_equal_to_rounding_are_equal():
    assert paper_supercell(cell(5, 6, 7, 90)).n_atoms == 90
    # a relaxed cubic cell, unequal in the 7th digit
    nearly_cubic = cell(4.5387538, 4.5387537, 4.5387536, 5)
    assert paper_supercell(nearly_cubic).supercell_matrix == [[3, 0, 0], [0, 3, 0], [0, 0, 3]]


@pytest.mark.parametrize(
    "abc,n",
    [
        ((3.53, 10.29, 10.77), 20),
        ((9.1, 9.1, 5.12), 27),
        ((4.0, 7.0, 19.0), 3),
        ((6.0, 6.0, 6.0), 1),
    ],
)
def test_no_diagonal_supercell_is_both_smaller_and_more_equal(abc, n):
    assert len(dominating_alternatives(cell(*abc, n))) == 0


@pytest.mark.shared_data
def test_every_pool_supercell_has_80_atoms_and_is_not_dominated(pool):
    sizes = []
    for candidate in pool.candidates:
        choice = paper_supercell(candidate.structure)
        assert choice.n_atoms >= 80, candidate.candidate_id
        assert len(dominating_alternatives(candidate.structure)) == 0, candidate.candidate_id
        sizes.append(choice.n_atoms)
    # the paper: most supercells land at 80-300 atoms
    assert np.mean((np.array(sizes) >= 80) & (np.array(sizes) <= 300)) > 0.85
