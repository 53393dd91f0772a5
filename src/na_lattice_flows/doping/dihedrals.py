"""Dihedral angles between successive tetrahedra along [111] (SbS4 and WS4 in Na3SbS4): the order parameter of
the tetragonal distortion. The ideal cubic (I-43m) cell has every tetrahedron in the same orientation, so the
dihedral S-M...M'-S' between corresponding ligands of two neighbouring centres M, M' is zero; in the tetragonal
phase successive tetrahedra rotate against each other and it is not.

Pairs: each centre and its nearest centre along +[111] of the cell (first frame). Corresponding ligands: for
each ligand of M off the M-M' axis, the ligand of M' with the most nearly parallel bond in the first frame. A
pair's angle is the mean of its off-axis ligands' signed dihedrals, so a rigid rotation of one tetrahedron by
theta about the M-M' axis gives theta. Written here because no field library defines this order parameter;
the dihedral itself is ASE's convention (``Atoms.get_dihedral``), which a test checks."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError

AXIS_TOLERANCE_DEG = (
    20.0  # a ligand bond within this angle of the M-M' axis has no defined dihedral
)


class TetrahedronPairs(BaseModel):
    """Corner-sharing tetrahedron pairs and the ligands whose dihedral angle is followed."""

    centers: list[tuple[int, int]] = Field(description="atom indices (M, M') of each pair")
    ligands: list[list[tuple[int, int]]] = Field(
        description="per pair, the corresponding off-axis ligands (L of M, L' of M')"
    )


def _minimum_image(vectors: np.ndarray, cell: np.ndarray) -> np.ndarray:
    fractional = np.linalg.solve(cell.T, np.asarray(vectors, dtype=float).T).T
    return (fractional - np.round(fractional)) @ cell


def tetrahedron_pairs(
    species: list[str],
    positions: np.ndarray,
    cell: np.ndarray,
    centers: tuple[str, ...] = ("Sb", "W"),
    ligand: str = "S",
    direction: tuple[float, float, float] = (1.0, 1.0, 1.0),
    bond_cutoff_A: float = 3.0,
) -> TetrahedronPairs:
    """Neighbouring tetrahedra along ``direction`` (in the cell's axes) and their corresponding ligands."""
    species = np.asarray(species)
    cell = np.asarray(cell, dtype=float)
    center_indices = np.flatnonzero(np.isin(species, centers))
    ligand_indices = np.flatnonzero(species == ligand)
    if len(center_indices) < 2 or not len(ligand_indices):
        raise InputError(
            f"need at least two {'/'.join(centers)} centres and {ligand} ligands; found {len(center_indices)} and {len(ligand_indices)}"
        )
    axis = np.asarray(direction, dtype=float) @ (cell / np.linalg.norm(cell, axis=1)[:, None])
    axis /= np.linalg.norm(axis)
    bonds = {}
    for m in center_indices:
        vectors = _minimum_image(positions[ligand_indices] - positions[m], cell)
        close = np.linalg.norm(vectors, axis=1) < bond_cutoff_A
        bonds[m] = (ligand_indices[close], vectors[close])
    pairs, ligands = [], []
    for m in center_indices:
        separations = _minimum_image(positions[center_indices] - positions[m], cell)
        distances = np.linalg.norm(separations, axis=1)
        along = [
            (d, j)
            for j, (d, s) in enumerate(zip(distances, separations, strict=True))
            if d > 1e-6 and np.dot(s, axis) / d > np.cos(np.radians(AXIS_TOLERANCE_DEG))
        ]
        if not along:
            continue
        partner = center_indices[min(along)[1]]
        bond_axis = separations[min(along)[1]] / min(along)[0]
        matched = []
        for index, vector in zip(*bonds[m], strict=True):
            if abs(np.dot(vector, bond_axis)) / np.linalg.norm(vector) > np.cos(
                np.radians(AXIS_TOLERANCE_DEG)
            ):
                continue  # on the axis
            partner_ligands, partner_vectors = bonds[partner]
            cosines = (
                partner_vectors
                @ vector
                / (np.linalg.norm(partner_vectors, axis=1) * np.linalg.norm(vector))
            )
            matched.append((int(index), int(partner_ligands[np.argmax(cosines)])))
        if matched:
            pairs.append((int(m), int(partner)))
            ligands.append(matched)
    return TetrahedronPairs(centers=pairs, ligands=ligands)


def signed_dihedral_deg(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> float:
    """Dihedral angle p0-p1-p2-p3 in degrees, in (-180, 180]: ASE's angle (``ase.geometry.get_dihedrals``,
    [0, 360)) made signed, for points already made continuous by the minimum image."""
    from ase.geometry import get_dihedrals

    angle = float(get_dihedrals([p1 - p0], [p2 - p1], [p3 - p2])[0])
    return angle - 360.0 if angle > 180.0 else angle


def pair_dihedrals_deg(
    positions: np.ndarray, cells: np.ndarray, pairs: TetrahedronPairs
) -> np.ndarray:
    """(n_frames, n_pairs): each pair's mean ligand dihedral per frame. ``cells``: (3, 3) or (n_frames, 3, 3)."""
    positions = np.asarray(positions, dtype=float)
    positions = positions[None] if positions.ndim == 2 else positions
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (len(positions), 3, 3))
    result = np.zeros((len(positions), len(pairs.centers)))
    for frame, (x, cell) in enumerate(zip(positions, cells, strict=True)):
        for k, ((m, partner), matched) in enumerate(zip(pairs.centers, pairs.ligands, strict=True)):
            origin = x[m]
            p2 = origin + _minimum_image(x[partner] - origin, cell)
            angles = [
                signed_dihedral_deg(
                    origin + _minimum_image(x[a] - origin, cell),
                    origin,
                    p2,
                    p2 + _minimum_image(x[b] - x[partner], cell),
                )
                for a, b in matched
            ]
            result[frame, k] = np.mean(angles)
    return result


def sliding_average(series: np.ndarray, window_frames: int) -> np.ndarray:
    """Centred running mean along the first axis over ``window_frames`` (shorter at the ends)."""
    series = np.asarray(series, dtype=float)
    window_frames = max(1, min(int(window_frames), len(series)))
    cumulative = np.concatenate([np.zeros((1, *series.shape[1:])), np.cumsum(series, axis=0)])
    half = window_frames // 2
    start = np.clip(np.arange(len(series)) - half, 0, len(series))
    stop = np.clip(np.arange(len(series)) - half + window_frames, 0, len(series))
    return (cumulative[stop] - cumulative[start]) / (stop - start).reshape(
        -1, *([1] * (series.ndim - 1))
    )


class DihedralSummary(BaseModel):
    """The dihedral angles of one run, summarised."""

    n_pairs: int
    window_ps: float
    mean_abs_deg: float = Field(
        description="mean |dihedral| of the window-averaged series over pairs and time"
    )
    histogram_deg: list[float] = Field(
        description="bin edges (deg) of the distribution of window-averaged dihedrals"
    )
    histogram_counts: list[int]


def dihedral_analysis(
    species,
    positions,
    cells,
    frame_interval_fs: float,
    window_ps: float = 2.0,
    bins: int = 36,
    centers: tuple[str, ...] = ("Sb", "W"),
    ligand: str = "S",
) -> tuple[DihedralSummary, dict[str, np.ndarray]]:
    """The per-pair time series (raw and sliding-window averaged) and their distribution."""
    first_cell = np.asarray(cells, dtype=float).reshape(-1, 3, 3)[0]
    pairs = tetrahedron_pairs(species, np.asarray(positions)[0], first_cell, centers, ligand)
    raw = pair_dihedrals_deg(positions, cells, pairs)
    window_frames = max(1, round(window_ps * 1000 / frame_interval_fs))
    averaged = sliding_average(raw, window_frames)
    counts, edges = np.histogram(averaged, bins=bins, range=(-45, 45))
    summary = DihedralSummary(
        n_pairs=len(pairs.centers),
        window_ps=window_ps,
        mean_abs_deg=float(np.abs(averaged).mean()),
        histogram_deg=edges.tolist(),
        histogram_counts=counts.tolist(),
    )
    times_ps = np.arange(len(raw)) * frame_interval_fs / 1000
    return summary, {
        "dihedral_times_ps": times_ps,
        "dihedral_deg": raw,
        "dihedral_window_deg": averaged,
    }
