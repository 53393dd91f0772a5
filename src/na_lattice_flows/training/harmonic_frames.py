"""Training frames that carry a DFT force set's curvature: random-displacement supercells labelled with the harmonic
forces of the DFT force constants.

phononDB's force sets displace one atom by 0.01 A per supercell: each frame holds one column of the force
constants, in forces of a few meV/A on most atoms, next to which a universal model's residual forces at the
PBEsol geometry (~100 meV/A RMS) dominate any force loss. Fine-tuned on two such frames per material, CHGNet
learnt PBEsol's equilibrium (force RMSE 102 -> 39 meV/A) and lost curvature (IFC2 RMSE 0.20 -> 0.62 eV/A^2).
Here every atom of the supercell is displaced (the screen's own pattern: ``amplitude_A`` in a random direction,
phonopy, seeded) and the label is F = -Phi u with Phi the force constants fitted to the archive's own DFT force
set (``fit_force_constants``): each frame then carries the whole force-constant matrix in forces of
~0.1-0.5 eV/A, the quantity the screen's verdict is made of. Harmonic labels are exact to second order; at
0.03 A the anharmonic part the DFT set would have added is a few per cent (``tests/training``: EMT). No library
makes force labels from force constants (phonopy fits force constants to forces, not the reverse), hence this.
"""

from __future__ import annotations

import numpy as np
from phonopy.harmonic.force_constants import compact_fc_to_full_fc

from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import (
    DisplacementReference,
    displaced_supercells,
    random_displacements,
    reference_with_forces,
)


def harmonic_forces(force_constants: np.ndarray, displacements: np.ndarray) -> np.ndarray:
    """F_ia = -sum_jb Phi_ia,jb u_jb: forces (n, N, 3) in eV/A of full force constants (N, N, 3, 3) in eV/A^2 on
    displacements (n, N, 3) in A."""
    return -np.einsum("ijab,njb->nia", force_constants, displacements)


def harmonic_reference(
    reference: DisplacementReference, n_frames: int, amplitude_A: float, seed: int
) -> DisplacementReference:
    """``n_frames`` supercells of ``reference``'s cell with every atom displaced ``amplitude_A`` (seeded), labelled
    with the harmonic forces of the force constants fitted to ``reference``'s own forces."""
    source = fit_force_constants(reference)
    full = compact_fc_to_full_fc(source.primitive, source.force_constants)
    ph = random_displacements(
        reference.unitcell, reference.supercell_matrix, n_frames, amplitude_A, seed
    )
    # the same unit cell and matrix: phonopy builds the same supercell, in the same atom order
    if not np.allclose(ph.supercell.scaled_positions, source.supercell.scaled_positions):
        raise RuntimeError(
            f"{reference.name}: the displaced supercells do not match the reference's"
        )
    return reference_with_forces(
        ph,
        harmonic_forces(full, np.asarray(ph.displacements, dtype=float)),
        f"{reference.name} harmonic",
        amplitude_A,
        seed,
    )


def harmonic_energies(forces: np.ndarray, displacements: np.ndarray) -> np.ndarray:
    """E = 1/2 u Phi u = -1/2 u . F (eV) of harmonic ``forces`` (n, N, 3) eV/A at ``displacements`` (n, N, 3) A:
    the energy they are the gradient of, above the undisplaced supercell's."""
    return -0.5 * np.einsum("nia,nia->n", displacements, forces)


def harmonic_atoms(
    reference: DisplacementReference,
    n_frames: int,
    amplitude_A: float,
    seed: int,
    undisplaced_energy_eV: float,
) -> list:
    """``harmonic_reference``'s frames as labelled ASE Atoms for trainers that learn energies too (SevenNet):
    energy = ``undisplaced_energy_eV`` (the start model's, so that only the harmonic part is new) + 1/2 u Phi u,
    forces -Phi u; ``info['configuration']`` is the material (reduced formula), the group splits keep apart."""
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = harmonic_reference(reference, n_frames, amplitude_A, seed)
    displacements = np.asarray(frames.dataset["displacements"], dtype=float)
    energies = undisplaced_energy_eV + harmonic_energies(frames.forces, displacements)
    info = {
        "configuration": reference.unitcell.composition.reduced_formula,
        "source": reference.name,
        "labeller": f"harmonic forces of {reference.source}",
    }
    labelled = displaced_supercells(frames)
    for atoms, energy, forces in zip(labelled, energies, frames.forces, strict=True):
        atoms.info.update(info)
        atoms.calc = SinglePointCalculator(atoms, energy=float(energy), forces=forces)
    return labelled


def material_seed(seed: int, name: str) -> int:
    """The seed of one material's frames, from the run's ``seed`` and the material's name: adding or reordering
    materials never changes another's frames."""
    return int(np.random.default_rng([seed, *name.encode()]).integers(2**31))
