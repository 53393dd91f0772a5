"""Anisotropic diffusion: D along the tetragonal axis (c) and in the plane normal to it (ab), by the screening's
zero-intercept fit of the MSD (``md.diffusion``) on displacements projected onto those directions."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from na_lattice_flows.md.diffusion import (
    DEFAULT_FIT_WINDOW,
    fit_window_mask,
    msd_xyz,
    zero_intercept_slope,
)
from na_lattice_flows.md.trajectory import MDTrajectory


class AxialDiffusion(BaseModel):
    """D along the tetragonal axis (D_c) and in the plane (D_ab)."""

    axis: int
    D_c_A2_per_ps: float
    D_ab_A2_per_ps: float


def axial_diffusion(
    trajectory: MDTrajectory,
    axis: int,
    species: str = "Na",
    window: tuple[float, float] = DEFAULT_FIT_WINDOW,
) -> AxialDiffusion:
    """D along cell vector ``axis`` (MSD_c = 2 D_c t) and in the plane normal to it (MSD_ab = 4 D_ab t)."""
    cell = trajectory.mean_cell
    c_hat = cell[axis] / np.linalg.norm(cell[axis])
    helper = np.eye(3)[np.argmin(np.abs(c_hat))]
    e1 = np.cross(c_hat, helper)
    e1 /= np.linalg.norm(e1)
    basis = np.stack([c_hat, e1, np.cross(c_hat, e1)])
    projected = trajectory.positions[:, trajectory.indices(species)] @ basis.T
    msd = msd_xyz(projected)
    times = trajectory.times_ps
    mask = fit_window_mask(times, window)
    slopes = [zero_intercept_slope(times[mask], msd[mask, k]) for k in range(3)]
    return AxialDiffusion(
        axis=axis, D_c_A2_per_ps=slopes[0] / 2, D_ab_A2_per_ps=(slopes[1] + slopes[2]) / 4
    )
