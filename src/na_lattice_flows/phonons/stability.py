"""The dynamic-stability screen (paper §2.5): a structure is dynamically stable when no phonon mode is
imaginary on a q-mesh and the high-symmetry path, within tolerances for finite-supercell noise. It decides which
structures get MD, and the force benchmark asks whether an MLP agrees with DFT on it."""

from __future__ import annotations

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field

STABILITY_TOLERANCE_THZ = 0.1  # any mode below -0.1 THz is an instability ...


GAMMA_NOISE_RADIUS = 0.15  # ... except acoustic ones this close to Gamma (|q| in reduced coordinates) ...


GAMMA_NOISE_TOLERANCE_THZ = 0.5  # ... which may dip to -0.5 THz (finite-supercell / sum-rule noise)


MESH_LENGTH_A = 30.0  # phonopy's length-based q-mesh (about 30 / a points along each reciprocal axis)


class StabilityVerdict(BaseModel):
    dynamically_stable: bool
    min_frequency_thz: float = Field(description="Lowest frequency anywhere (imaginary modes are negative)")
    min_frequency_qpoint: list[float] = Field(description="Reduced coordinates of the softest mode")


def dynamic_stability(
    ph: Phonopy,
    tolerance_thz: float = STABILITY_TOLERANCE_THZ,
    gamma_radius: float = GAMMA_NOISE_RADIUS,
    gamma_tolerance_thz: float = GAMMA_NOISE_TOLERANCE_THZ,
) -> StabilityVerdict:
    """No imaginary modes on a q-mesh (Gamma included) and the seekpath high-symmetry path.

    Stable when every frequency is above ``-tolerance_thz``, except that the three acoustic branches within
    ``gamma_radius`` (norm of q in reduced coordinates) of Gamma may dip to ``-gamma_tolerance_thz``: there,
    small imaginary acoustic frequencies come from the finite supercell and the rotational sum rule, not from
    an instability of the crystal."""
    ph.run_mesh(MESH_LENGTH_A, is_gamma_center=True)
    qpoints = [np.asarray(ph.mesh.qpoints)]
    frequencies = [np.asarray(ph.mesh.frequencies)]
    ph.auto_band_structure(npoints=21)
    bands = ph.get_band_structure_dict()
    qpoints += [np.asarray(q) for q in bands["qpoints"]]
    frequencies += [np.asarray(f) for f in bands["frequencies"]]
    all_q, all_f = np.concatenate(qpoints), np.sort(np.concatenate(frequencies), axis=1)
    near_gamma = np.linalg.norm(all_q - np.rint(all_q), axis=1) <= gamma_radius
    limits = np.full(all_f.shape, -tolerance_thz)
    limits[near_gamma, :3] = -gamma_tolerance_thz
    index = np.unravel_index(np.argmin(all_f), all_f.shape)
    return StabilityVerdict(
        dynamically_stable=bool(np.all(all_f >= limits)),
        min_frequency_thz=float(all_f[index]),
        min_frequency_qpoint=np.round(all_q[index[0]], 6).tolist(),
    )
