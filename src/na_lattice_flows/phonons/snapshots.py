"""Effective force constants at T from MD snapshots (the TDEP idea: the harmonic model that best reproduces the
forces the atoms feel as they move at T), the option beside the self-consistent loop of ``finite_temperature``.

Given the frames of an NVT run of the ideal supercell at T with the MLP (the screen's restartable Langevin
engine, ``md.langevin.run_langevin_md(..., record_labels=True)``, keeps each frame's forces; the md and phonons
stages do not import each other, so the caller runs one and hands the frames to the other), one symfc fit of
the frames' forces to their displacements from the ideal sites (each frame's centre-of-mass drift removed, the
model's residual forces on the ideal supercell subtracted). Unlike the self-consistent loop it samples the real
anharmonic distribution and needs no iteration; but it needs atoms that vibrate about their sites: a frame in
which an atom has left its site by more than ``max_displacement_A`` (a sodium hop in a superionic phase) refuses
the fit with ``AtomsLeftTheirSites``, since a displacement from a site it no longer occupies means nothing, which
is why the screen uses the self-consistent loop.
"""

from __future__ import annotations

import numpy as np
from phonopy import Phonopy

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import reference_from_phonopy


class AtomsLeftTheirSites(ValueError):
    """A snapshot has an atom far from its ideal site: the effective harmonic model of that phase is not defined."""


def snapshot_force_constants(
    ph: Phonopy,
    positions_A: np.ndarray,
    forces_eV_per_A: np.ndarray,
    residual_forces: np.ndarray,
    temperature_K: float,
    max_displacement_A: float = 1.0,
) -> Phonopy:
    """Effective second-order force constants of ``ph``'s supercell from snapshots: unwrapped positions (n, N, 3)
    of the ideal supercell's atoms in phonopy's order, their forces, and the model's forces on the ideal supercell.
    Returns a Phonopy object with them (compact)."""
    supercell = ph.supercell
    displacements = np.asarray(positions_A, float) - supercell.positions
    masses = np.asarray(supercell.masses)
    drift = np.einsum("a,fad->fd", masses, displacements) / masses.sum()
    displacements -= drift[
        :, None, :
    ]  # the Langevin thermostat lets the whole cell wander a little
    distances = np.linalg.norm(displacements, axis=2)
    if distances.max() > max_displacement_A:
        frame, atom = np.unravel_index(np.argmax(distances), distances.shape)
        raise AtomsLeftTheirSites(
            f"MD at {temperature_K:g} K: atom {atom} ({supercell.symbols[atom]}) is {distances.max():.2f} A from its site in frame "
            f"{frame} (limit {max_displacement_A:g} A): it hops, so no effective harmonic model describes this phase"
        )
    work = Phonopy(
        ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix
    )
    work.dataset = {
        "displacements": displacements,
        "forces": np.asarray(forces_eV_per_A, float) - residual_forces,
    }
    return fit_force_constants(
        reference_from_phonopy(work, "md effective", f"MD snapshots at {temperature_K:g} K"),
        method="symfc",
    )
