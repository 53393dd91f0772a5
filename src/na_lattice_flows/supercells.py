"""The paper's supercells: at least 80 atoms, lattice lengths as equal as possible, fewest atoms.

Written here because neither phonopy nor pymatgen encodes this rule: pymatgen's CubicSupercellTransformation
also squares the angles (often at many more atoms), phonopy takes the matrix as given. The rule is a diagonal
multiple of the unit cell (the cell phonopy/phononDB work with), found by growing one target length L:
each axis is repeated ceil(L / a_i) times, so every supercell length lies within one unit-cell length of L.
L increases until the supercell holds ``min_atoms``; then any axis whose reduction by one repeat still keeps
``min_atoms`` is reduced (fewest atoms), if that does not make the lengths less equal.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel
from pymatgen.core import Structure

DEFAULT_MIN_ATOMS = 80
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


def _ratio(lengths: np.ndarray) -> float:
    return float(lengths.max() / lengths.min())


def paper_supercell(structure: Structure, min_atoms: int = DEFAULT_MIN_ATOMS) -> SupercellChoice:
    """The diagonal supercell of ``structure`` with >= ``min_atoms`` atoms and near-equal lattice lengths."""
    n_unit = len(structure)
    if n_unit == 0:
        raise ValueError("paper_supercell: the structure has no sites")
    abc = np.array(structure.lattice.abc)
    multiples = np.ones(3, dtype=int)
    if n_unit < min_atoms:
        # Candidate target lengths are the lengths each axis reaches at each repeat count.
        max_repeat = math.ceil(min_atoms / n_unit)
        targets = sorted({k * a for a in abc for k in range(1, max_repeat + 1)})
        for target in targets:
            multiples = np.maximum(1, np.ceil(target / abc - LENGTH_RTOL)).astype(int)
            if n_unit * multiples.prod() >= min_atoms:
                break
        multiples = _drop_spare_repeats(multiples, abc, n_unit, min_atoms)
    lengths = multiples * abc
    return SupercellChoice(
        supercell_matrix=np.diag(multiples).tolist(),
        n_atoms=int(n_unit * multiples.prod()),
        lengths_A=tuple(float(x) for x in lengths),
    )


def _drop_spare_repeats(multiples: np.ndarray, abc: np.ndarray, n_unit: int, min_atoms: int) -> np.ndarray:
    """Remove one repeat along an axis while the cell still has ``min_atoms`` and its lengths stay as equal."""
    improved = True
    while improved:
        improved = False
        best = (n_unit * multiples.prod(), _ratio(multiples * abc))
        for axis in np.argsort(-(multiples * abc)):  # try the longest axis first
            if multiples[axis] == 1:
                continue
            trial = multiples.copy()
            trial[axis] -= 1
            n_atoms = n_unit * trial.prod()
            if n_atoms >= min_atoms and _ratio(trial * abc) <= best[1] * (1 + LENGTH_RTOL):
                multiples, improved = trial, True
                break
    return multiples
