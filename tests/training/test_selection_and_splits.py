"""Frame selection and dataset splits against what can be known independently: ASE's own neighbour counts,
symmetry (rotation, translation, permutation), clusters whose representatives are obvious, and set arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from na_lattice_flows.training.dataset import from_extxyz, label_frames, split_by_group, to_extxyz
from na_lattice_flows.training.selection import (
    farthest_point_sampling,
    pair_distribution_descriptor,
    select_frames,
)


def cu3au(a: float = 3.75):
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat((2, 2, 2))
    atoms.symbols[::4] = "Au"
    return atoms


def test_the_descriptor_counts_neighbours_as_ase_does_and_is_invariant():
    atoms = cu3au()
    atoms.rattle(0.05, seed=1)
    n_bins, cutoff, width = 400, 3.3, 0.02
    spacing = (cutoff - 0.5) / (n_bins - 1)
    vector = pair_distribution_descriptor(
        atoms, ["Au", "Cu"], cutoff_A=cutoff, n_bins=n_bins, width_A=width
    )
    blocks = vector.reshape(3, n_bins)  # Au-Au, Au-Cu, Cu-Cu
    i, j = neighbor_list("ij", atoms, cutoff)
    symbols = np.array(atoms.get_chemical_symbols())
    for block, (a, b) in zip(blocks, [("Au", "Au"), ("Au", "Cu"), ("Cu", "Cu")], strict=True):
        expected = np.sum((symbols[i] == a) & (symbols[j] == b)) / np.sum(symbols == a)
        # each Gaussian integrates to sqrt(2 pi) width over the bin spacing
        assert block.sum() * spacing / (np.sqrt(2 * np.pi) * width) == pytest.approx(
            expected, rel=1e-3
        )

    rotated = atoms.copy()
    rotated.rotate(37, "z", rotate_cell=True)
    rotated.translate([0.3, -1.2, 2.0])
    permuted = atoms[np.random.default_rng(2).permutation(len(atoms))]
    for other in (rotated, permuted):
        np.testing.assert_allclose(
            pair_distribution_descriptor(other, ["Au", "Cu"]),
            pair_distribution_descriptor(atoms, ["Au", "Cu"]),
            atol=1e-9,
        )
    assert (
        np.linalg.norm(
            pair_distribution_descriptor(cu3au(3.9), ["Au", "Cu"])
            - pair_distribution_descriptor(cu3au(), ["Au", "Cu"])
        )
        > 1
    )


def test_farthest_point_sampling_takes_one_from_each_cluster_and_stops_at_redundancy():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    points = np.concatenate([centre + rng.normal(0, 0.1, size=(25, 2)) for centre in centres])
    chosen = farthest_point_sampling(points, 4)
    assert sorted(index // 25 for index in chosen) == [0, 1, 2, 3]
    # beyond the clusters, all is redundant
    assert len(farthest_point_sampling(points, 50, min_distance=2.0)) == 4
    assert (
        len(farthest_point_sampling(points, 50)) == 50
        and len(set(farthest_point_sampling(points, 100))) == 100
    )
    with pytest.raises(ValueError, match="at least 1"):
        farthest_point_sampling(points, 0)

    frames = [cu3au(a) for a in (3.70, 3.70, 3.70, 3.90, 3.90)]
    picks = select_frames(frames, 2)
    assert {3.70 if p < 3 else 3.90 for p in picks} == {
        3.70,
        3.90,
    }  # one of each lattice, not two copies


def test_splits_never_put_a_group_on_two_sides():
    rng = np.random.default_rng(1)
    groups = [f"config{rng.integers(0, 11)}" for _ in range(500)]
    splits = split_by_group(groups, (0.8, 0.1, 0.1), seed=3)
    indices = sorted(i for split in splits.values() for i in split)
    assert indices == list(range(500))  # every frame once
    sides = [{groups[i] for i in splits[name]} for name in ("train", "val", "test")]
    assert (
        all(sides)
        and not (sides[0] & sides[1])
        and not (sides[0] & sides[2])
        and not (sides[1] & sides[2])
    )
    assert len(splits["train"]) > len(splits["val"]) and len(splits["train"]) > len(splits["test"])
    assert split_by_group(groups, (0.8, 0.1, 0.1), seed=3) == splits
    three = split_by_group(["a"] * 10 + ["b"] * 2 + ["c"] * 2, (0.8, 0.1, 0.1))
    assert all(three.values())  # even the smallest case fills every split
    with pytest.raises(ValueError, match="independent of training"):
        split_by_group(["a", "a", "b"], (0.8, 0.1, 0.1))
    with pytest.raises(ValueError, match="summing to 1"):
        split_by_group(["a", "b", "c"], (0.8, 0.3, 0.1))
    assert split_by_group(["a", "b"], (0.5, 0.5, 0.0))["test"] == []


def test_labelled_frames_round_trip_through_extended_xyz_with_their_provenance():
    from ase.calculators.emt import EMT

    atoms = cu3au()
    atoms.rattle(0.05, seed=3)
    atoms.info.update(
        configuration="L12", run="L12@300K", temperature_K=300.0, frame_index=7, source="x.h5"
    )
    labelled = label_frames([atoms], EMT(), "emt", progress=False)
    back = from_extxyz(to_extxyz(labelled))[0]
    reference = atoms.copy()
    reference.calc = EMT()
    np.testing.assert_allclose(back.get_forces(), reference.get_forces(), atol=1e-6)
    np.testing.assert_allclose(back.get_stress(), reference.get_stress(), atol=1e-8)
    assert back.get_potential_energy() == pytest.approx(reference.get_potential_energy(), abs=1e-6)
    assert (
        back.info["configuration"] == "L12"
        and back.info["frame_index"] == 7
        and back.info["labeller"] == "emt"
    )
