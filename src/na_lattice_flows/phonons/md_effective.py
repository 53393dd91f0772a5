"""Effective force constants at T from MD snapshots (the TDEP idea: the harmonic model that best reproduces the
forces the atoms feel as they move at T), the option beside the self-consistent loop of ``finite_temperature``.

An NVT Langevin run of the ideal supercell at T with the MLP (the screen's own restartable engine,
``md.langevin.run_langevin_md``, keeping each frame's forces), then one symfc fit of the frames' forces to their
displacements from the ideal sites (each frame's centre-of-mass drift removed, the model's residual forces on
the ideal supercell subtracted). Unlike the self-consistent loop it samples the real anharmonic distribution,
quantum corrections aside, and it needs no iteration; but it needs atoms that vibrate about their sites: a
frame in which an atom has left its site by more than ``max_displacement_A`` (a sodium hop in a superionic
phase) refuses the fit with ``AtomsLeftTheirSites``, since a displacement from a site it no longer occupies
means nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, reference_from_phonopy


class AtomsLeftTheirSites(ValueError):
    """A snapshot has an atom far from its ideal site: the effective harmonic model of that phase is not defined."""


class MDEffectiveSettings(BaseModel):
    temperature_K: float = Field(gt=0, allow_inf_nan=False)
    timestep_fs: float = Field(1.5, gt=0, allow_inf_nan=False)
    n_equilibration_steps: int = Field(500, ge=0)
    n_production_steps: int = Field(2000, gt=0)
    frame_interval_steps: int = Field(20, gt=0, description="MD steps between the snapshots that are fitted")
    max_displacement_A: float = Field(1.0, gt=0, description="Largest distance of an atom from its site that still counts as vibration")
    seed: int = Field(0, ge=0)


def md_effective_phonons(ph: Phonopy, calculator, settings: MDEffectiveSettings, trajectory_path: str | Path) -> Phonopy:
    """Effective second-order force constants of ``ph``'s supercell at T from an MD run written to
    ``trajectory_path`` (resumed if it is there). Returns a Phonopy object with them (compact)."""
    import h5py
    from ase import Atoms

    from na_lattice_flows.md.langevin import MDSettings, run_langevin_md

    supercell = ph.supercell
    ideal = Atoms(numbers=supercell.numbers, cell=supercell.cell, scaled_positions=supercell.scaled_positions, pbc=True)
    md = MDSettings(temperature_K=settings.temperature_K, timestep_fs=settings.timestep_fs, seed=settings.seed,
                    n_equilibration_steps=settings.n_equilibration_steps, n_production_steps=settings.n_production_steps,
                    frame_interval_steps=settings.frame_interval_steps, checkpoint_interval_steps=settings.frame_interval_steps * 10,
                    store_velocities=False)  # fmt: skip
    path = run_langevin_md(ideal, calculator, md, trajectory_path, progress=True, record_labels=True)
    with h5py.File(path, "r") as handle:
        positions, forces = np.asarray(handle["positions"], float), np.asarray(handle["forces"], float)
    displacements = positions - ideal.positions
    masses = ideal.get_masses()
    drift = np.einsum("a,fad->fd", masses, displacements) / masses.sum()
    displacements -= drift[:, None, :]  # the Langevin thermostat lets the whole cell wander a little
    farthest = float(np.linalg.norm(displacements, axis=2).max())
    if farthest > settings.max_displacement_A:
        frame, atom = np.unravel_index(np.argmax(np.linalg.norm(displacements, axis=2)), displacements.shape[:2])
        raise AtomsLeftTheirSites(
            f"MD at {settings.temperature_K:g} K: atom {atom} ({ideal.get_chemical_symbols()[atom]}) is {farthest:.2f} A from its site "
            f"in frame {frame} (limit {settings.max_displacement_A:g} A): it hops, so no effective harmonic model describes this phase"
        )
    residual = predict_forces([ideal], calculator)[0]
    work = Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix)
    work.dataset = {"displacements": displacements, "forces": forces - residual}
    return fit_force_constants(reference_from_phonopy(work, "md effective", f"MD snapshots at {settings.temperature_K:g} K"), method="symfc")
