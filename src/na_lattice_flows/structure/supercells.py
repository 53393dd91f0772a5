"""The paper's supercells: at least 80 atoms, lattice lengths as equal as possible, fewest atoms.

Written here because neither phonopy nor pymatgen encodes this rule: pymatgen's CubicSupercellTransformation
also squares the angles (often at many more atoms), phonopy takes the matrix as given. The supercell is a
diagonal multiple of the unit cell (the cell phonopy/phononDB work with), chosen in two steps:

1. An atom budget: grow one target length L until repeating every axis ceil(L / a_i) times gives at least
   ``min_atoms``; then every length lies within one unit-cell length of L.
2. Within that budget, the diagonal multiple with the most equal lengths (smallest longest/shortest ratio),
   and among equally good ones the fewest atoms. No other diagonal supercell of at least ``min_atoms`` has both
   fewer-or-equal atoms and more equal lengths (tests check this against a brute-force search).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel
from pymatgen.core import Structure

from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import SETTINGS

DEFAULT_MIN_ATOMS = SETTINGS.min_supercell_atoms
# Lengths equal to this relative tolerance count as equal (relaxed cubic cells differ in the 7th digit).
LENGTH_RTOL = 1e-4


class SupercellChoice(BaseModel):
    """A supercell as phonopy takes it (``supercell_matrix``), with the figures that judge it."""

    supercell_matrix: list[list[int]]
    n_atoms: int
    lengths_A: tuple[float, float, float]

    @property
    def length_ratio(self) -> float:
        """Longest over shortest supercell lattice length (1 = all equal)."""
        return max(self.lengths_A) / min(self.lengths_A)


def paper_supercell(structure: Structure, min_atoms: int = DEFAULT_MIN_ATOMS) -> SupercellChoice:
    """The diagonal supercell of ``structure`` with >= ``min_atoms`` atoms and near-equal lattice lengths."""
    n_unit = len(structure)
    if n_unit == 0:
        raise InputError("paper_supercell: the structure has no sites")
    abc = np.array(structure.lattice.abc)
    if n_unit >= min_atoms:
        multiples = np.ones(3, dtype=int)
    else:
        budget = n_unit * _equal_length_multiples(abc, n_unit, min_atoms).prod()
        multiples = _most_equal_within(abc, n_unit, min_atoms, budget)
    return SupercellChoice(
        supercell_matrix=np.diag(multiples).tolist(),
        n_atoms=int(n_unit * multiples.prod()),
        lengths_A=tuple(float(x) for x in multiples * abc),
    )


def _equal_length_multiples(abc: np.ndarray, n_unit: int, min_atoms: int) -> np.ndarray:
    """Repeats ceil(L / a_i) for the smallest target length L that reaches ``min_atoms``."""
    max_repeat = math.ceil(min_atoms / n_unit)
    for target in sorted({k * a for a in abc for k in range(1, max_repeat + 1)}):
        multiples = np.maximum(1, np.ceil(target / abc - LENGTH_RTOL)).astype(int)
        if n_unit * multiples.prod() >= min_atoms:
            return multiples
    raise AssertionError("unreachable: L = max_repeat * max(abc) always reaches min_atoms")


def _most_equal_within(abc: np.ndarray, n_unit: int, min_atoms: int, budget: int) -> np.ndarray:
    """Among diagonal multiples with min_atoms <= atoms <= budget: the most equal lengths, then fewest atoms."""
    max_cells, min_cells = budget // n_unit, math.ceil(min_atoms / n_unit)
    options = [
        (i, j, k)
        for i in range(1, max_cells + 1)
        for j in range(1, max_cells // i + 1)
        for k in range(max(1, math.ceil(min_cells / (i * j))), max_cells // (i * j) + 1)
    ]
    multiples = np.array(options)
    lengths = multiples * abc
    ratios = lengths.max(axis=1) / lengths.min(axis=1)
    near_best = ratios <= ratios.min() * (1 + LENGTH_RTOL)
    cells = np.where(near_best, multiples.prod(axis=1), np.iinfo(int).max)
    return multiples[int(cells.argmin())]
