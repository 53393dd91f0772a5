"""Displaced-supercell forces of many structures with one batched model call per displacement step: call k holds
the k-th random-displacement supercell of every structure (torch-sim's batched ``ModelInterface``, as the batched
MD engine uses). On a GPU one call on a few thousand atoms costs about what a call on one supercell does, so a
campaign's phonon forces cost ~n_supercells calls instead of n_structures x n_supercells.

The loop is ours: torch-sim's ``static`` runner batches by memory estimates and returns its own state objects,
while the force-constant fit needs the forces in phonopy's dataset order, structure by structure; a fixed
composition of each call (step k of every structure) also makes the batches reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm


def step_calls(n_atoms: Sequence[int], max_atoms_per_call: int | None) -> list[list[int]]:
    """The structures (indices) of each model call of one step: all of them, or consecutive groups of at most
    ``max_atoms_per_call`` atoms where a call of every structure would not fit the device (a structure larger
    than the limit gets a call of its own)."""
    if max_atoms_per_call is None:
        return [list(range(len(n_atoms)))] if n_atoms else []
    calls, current, atoms_in_call = [], [], 0
    for index, n in enumerate(n_atoms):
        if current and atoms_in_call + n > max_atoms_per_call:
            calls.append(current)
            current, atoms_in_call = [], 0
        current.append(index)
        atoms_in_call += n
    return calls + ([current] if current else [])


def batched_forces(
    supercell_sets: Sequence[Sequence[Atoms]],
    model,
    max_atoms_per_call: int | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """Forces (n_supercells_i, n_atoms_i, 3) in eV/A for each structure i's supercells, from the torch-sim
    ``model``; step k evaluates the k-th supercell of every structure that has one, in one call (or in calls of
    at most ``max_atoms_per_call`` atoms)."""
    import torch_sim as ts

    forces: list[list[np.ndarray]] = [[] for _ in supercell_sets]
    n_steps = max((len(cells) for cells in supercell_sets), default=0)
    for step in tqdm(
        range(n_steps), desc="batched forces", unit="step", disable=not progress, leave=False
    ):
        members = [index for index, cells in enumerate(supercell_sets) if step < len(cells)]
        systems = [supercell_sets[index][step] for index in members]
        for call in step_calls([len(atoms) for atoms in systems], max_atoms_per_call):
            state = ts.initialize_state(
                [systems[i] for i in call], device=model.device, dtype=model.dtype
            )
            values = model(state)["forces"].detach().to("cpu").numpy().astype(float)
            bounds = np.cumsum([0] + [len(systems[i]) for i in call])
            for i, start, stop in zip(call, bounds[:-1], bounds[1:], strict=True):
                forces[members[i]].append(values[start:stop])
    return [
        np.asarray(structure_forces, dtype=float).reshape(len(structure_forces), -1, 3)
        for structure_forces in forces
    ]
