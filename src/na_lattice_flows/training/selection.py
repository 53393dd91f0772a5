"""Which MD frames are worth a DFT single point: diverse, non-redundant ones.

Method: every frame becomes a vector of element-pair radial distribution functions (Gaussian-smeared pair
distances out to ``cutoff_A``, one block per element pair, counted per atom of the first element): invariant to
translation, rotation and permutation, and sensitive to what a force field sees (local distances). Frames are
then picked by farthest-point sampling in that space (greedy max-min Euclidean distance, starting from the frame
farthest from the mean), which spreads the picks over the sampled configurations instead of their dense core,
and stops early when the next pick would lie closer than ``min_distance`` to one already chosen (redundant).

Written here rather than imported: scikit-matter has FPS but pins scikit-learn < 1.9 (a downgrade of the
locked set), and the greedy max-min rule is a few lines of numpy; ASE's ``get_rdf`` refuses cutoffs beyond half
the cell, which the small cells of a training set need, so the histograms come from ASE's neighbour list.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations_with_replacement

import numpy as np
from ase import Atoms

from na_lattice_flows.errors import InputError


def pair_distribution_descriptor(
    atoms: Atoms,
    elements: Sequence[str],
    cutoff_A: float = 6.0,
    n_bins: int = 48,
    width_A: float = 0.1,
) -> np.ndarray:
    """Concatenated smeared pair-distance histograms g_ab(r) for every pair a <= b of ``elements`` (the same
    list for every frame, so vectors line up), each normalised by the number of atoms of element a."""
    from ase.neighborlist import neighbor_list

    centres = np.linspace(0.5, cutoff_A, n_bins)
    first, second, distances = neighbor_list("ijd", atoms, cutoff_A)
    symbols = np.asarray(atoms.get_chemical_symbols())
    blocks = []
    for a, b in combinations_with_replacement(sorted(elements), 2):
        mask = (symbols[first] == a) & (symbols[second] == b)
        n_a = max(int(np.sum(symbols == a)), 1)
        smeared = np.exp(-((distances[mask, None] - centres[None, :]) ** 2) / (2 * width_A**2)).sum(
            axis=0
        )
        blocks.append(smeared / n_a)
    return np.concatenate(blocks)


def farthest_point_sampling(
    descriptors: np.ndarray, n_select: int, min_distance: float = 0.0
) -> list[int]:
    """Indices of up to ``n_select`` rows of ``descriptors`` (n, d), each the farthest from those already
    chosen; stops before a pick closer than ``min_distance`` to the chosen set."""
    descriptors = np.asarray(descriptors, dtype=float)
    if descriptors.ndim != 2 or not len(descriptors):
        raise InputError(
            f"descriptors must be a non-empty (n_frames, n_features) array; got shape {descriptors.shape}"
        )
    if n_select < 1:
        raise InputError(f"number of frames to select must be at least 1; got {n_select}")
    start = int(np.argmax(np.linalg.norm(descriptors - descriptors.mean(axis=0), axis=1)))
    chosen = [start]
    nearest = np.linalg.norm(descriptors - descriptors[start], axis=1)
    while len(chosen) < min(n_select, len(descriptors)):
        candidate = int(np.argmax(nearest))
        if nearest[candidate] <= min_distance:
            break
        chosen.append(candidate)
        nearest = np.minimum(nearest, np.linalg.norm(descriptors - descriptors[candidate], axis=1))
    return chosen


def select_frames(
    frames: Sequence[Atoms], n_select: int, cutoff_A: float = 6.0, min_distance: float = 0.0
) -> list[int]:
    """Farthest-point selection of ``frames`` in pair-distribution space (the module's method)."""
    elements = sorted({symbol for atoms in frames for symbol in atoms.get_chemical_symbols()})
    descriptors = np.array(
        [pair_distribution_descriptor(atoms, elements, cutoff_A) for atoms in frames]
    )
    return farthest_point_sampling(descriptors, n_select, min_distance)
