"""Dihedral angles of successive tetrahedra (zero in ideal cubic Na3SbS4, the rotation angle for a rigidly
rotated tetrahedron, ASE's own dihedral), and the study's transport: D along c and in ab on a walk with known
anisotropy; kinisi's Haven ratio 1 for independent walkers and 1/g for walkers moving in groups of g."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.io.ase import AseAtomsAdaptor
from scipy.spatial.transform import Rotation

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.doping.analysis import axial_diffusion
from na_lattice_flows.doping.dihedrals import (
    dihedral_analysis,
    pair_dihedrals_deg,
    sliding_average,
    tetrahedron_pairs,
)
from na_lattice_flows.md.trajectory import MDTrajectory
from na_lattice_flows.md.transport import kinisi_diffusion


@pytest.fixture(scope="module")
def cubic_cell():
    return AseAtomsAdaptor.get_atoms(
        next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure() * (2, 2, 2)
    )


def test_dihedrals_vanish_in_the_ideal_cubic_cell(cubic_cell):
    pairs = tetrahedron_pairs(
        cubic_cell.get_chemical_symbols(), cubic_cell.positions, cubic_cell.cell.array
    )
    # one S of each SbS4 lies on [111]
    assert len(pairs.centers) == 16 and all(len(ligands) == 3 for ligands in pairs.ligands)
    np.testing.assert_allclose(
        pair_dihedrals_deg(cubic_cell.positions, cubic_cell.cell.array, pairs), 0, atol=1e-9
    )


@pytest.mark.parametrize("angle_deg", [7.0, -12.5])
def test_a_rigidly_rotated_tetrahedron_gives_its_rotation_angle(cubic_cell, angle_deg):
    atoms = cubic_cell.copy()
    pairs = tetrahedron_pairs(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array)
    center, partner = pairs.centers[0]
    axis = atoms.get_distance(center, partner, mic=True, vector=True)
    rotation = Rotation.from_rotvec(np.radians(angle_deg) * axis / np.linalg.norm(axis)).as_matrix()
    for index in np.flatnonzero(np.array(atoms.get_chemical_symbols()) == "S"):
        bond = atoms.get_distance(partner, index, mic=True, vector=True)
        if np.linalg.norm(bond) < 3.0:
            atoms.positions[index] = atoms.positions[partner] + rotation @ bond
    angles = pair_dihedrals_deg(atoms.positions, atoms.cell.array, pairs)[0]
    assert angles[0] == pytest.approx(angle_deg, abs=1e-9)
    ligand, partner_ligand = pairs.ligands[0][0]
    # ASE's definition, [0, 360)
    ase_angle = atoms.get_dihedral(ligand, center, partner, partner_ligand, mic=True)
    assert (ase_angle - angle_deg) % 360 == pytest.approx(0, abs=1e-6) or (
        ase_angle - angle_deg
    ) % 360 == pytest.approx(360, abs=1e-6)
    # the rotated tetrahedron is the second of one pair, the first of another
    assert np.count_nonzero(np.abs(angles) > 1e-6) == 2


@pytest.mark.shared_data
def test_tetragonal_na3sbs4_has_non_zero_dihedrals(pool):
    """Tetragonal (P-42_1c) Na3PS4 of the pool (mp-28782) with Sb on the P sites: the tetrahedra are rotated."""
    structure = next(c.structure for c in pool.candidates if c.candidate_id == "mp-28782").copy()
    structure.replace_species({"P": "Sb"})
    structure.scale_lattice(structure.volume * (7.1453 / 6.9965) ** 3)
    atoms = AseAtomsAdaptor.get_atoms(structure * (2, 2, 2))
    summary, series = dihedral_analysis(
        atoms.get_chemical_symbols(),
        atoms.positions[None].repeat(5, axis=0),
        atoms.cell.array,
        100.0,
        window_ps=0.2,
    )
    assert summary.mean_abs_deg > 5 and summary.n_pairs == 16
    assert series["dihedral_deg"].shape == (5, 16)


def test_sliding_average_is_a_centred_running_mean():
    series = np.arange(10, dtype=float)[:, None]
    averaged = sliding_average(series, 3)
    # linear data: the centred mean is the value
    np.testing.assert_allclose(averaged[1:-1, 0], series[1:-1, 0])
    assert averaged[0, 0] == pytest.approx(0.5) and averaged[-1, 0] == pytest.approx(8.5)


def walkers(
    D_xyz: tuple[float, float, float],
    n_walkers: int = 128,
    n_frames: int = 1001,
    frame_fs: float = 10.0,
    group: int = 1,
    seed: int = 0,
):
    """Na walkers with Gaussian steps of variance 2 D dt per axis; walkers in each group of ``group`` take the same steps."""
    rng = np.random.default_rng(seed)
    dt_ps = frame_fs / 1000
    steps = rng.normal(0, 1, size=(n_frames - 1, n_walkers // group, 3)) * np.sqrt(
        2 * np.asarray(D_xyz) * dt_ps
    )
    steps = np.repeat(steps, group, axis=1)
    start = rng.uniform(0, 20, size=(n_walkers, 3))
    positions = np.concatenate([start[None], start[None] + np.cumsum(steps, axis=0)])
    frame = np.broadcast_to(rng.uniform(0, 20, size=(16, 3)), (n_frames, 16, 3))
    return MDTrajectory(
        species=["Na"] * n_walkers + ["S"] * 16,
        positions=np.concatenate([positions, frame], axis=1),
        cell=np.eye(3) * 20,
        frame_interval_fs=frame_fs,
        temperature_K=500,
    )


def test_d_along_c_and_in_ab_recover_the_walk():
    trajectory = walkers((0.05, 0.05, 0.01))
    result = axial_diffusion(trajectory, axis=2)
    assert result.D_c_A2_per_ps == pytest.approx(0.01, rel=0.15)
    assert result.D_ab_A2_per_ps == pytest.approx(0.05, rel=0.15)
    assert axial_diffusion(trajectory, axis=0).D_c_A2_per_ps == pytest.approx(0.05, rel=0.15)


def haven_interval(result) -> tuple[float, float]:
    """The Haven ratio's range from kinisi's 95 % credible intervals of D* and D_sigma."""
    (tracer_low, tracer_high), (jump_low, jump_high) = (
        result.D_interval_A2_per_ps,
        result.D_jump_interval_A2_per_ps,
    )
    return tracer_low / jump_high, tracer_high / jump_low


@pytest.mark.slow  # 31 s; kinisi's Haven ratio is checked in the default run by tests/md/test_transport.py
def test_haven_ratio_is_one_for_independent_walkers_and_below_for_groups():
    """kinisi's D_sigma rests on one collective displacement per run, so its interval is wide (a factor of ~4 for
    128 walkers over 10 ps): the test is that H_R = 1 lies inside the interval for independent walkers, and that
    for walkers moving in rigid groups of 4 the interval lies below 1 and contains the exact 1/4."""
    independent = kinisi_diffusion(walkers((0.05, 0.05, 0.05)), "Na", n_samples=100)
    grouped = kinisi_diffusion(walkers((0.05, 0.05, 0.05), group=4, seed=1), "Na", n_samples=100)
    assert independent.D_A2_per_ps == pytest.approx(0.05, rel=0.15)
    low, high = haven_interval(independent)
    assert low < 1 < high
    low, high = haven_interval(grouped)
    assert high < 1 and low < 0.25 < high
    assert grouped.haven_ratio < 0.5
