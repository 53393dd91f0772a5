"""The paper's screen and StructureMatcher deduplication; nothing is dropped without a reason."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation

from na_lattice_flows.candidates.loaders import Candidate, LoadResult
from na_lattice_flows.candidates.screen import ScreeningCriteria, screen_candidates


def rocksalt(a: float = 5.64, species=("Na", "Cl")) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def candidate(candidate_id, structure, gap=None, e_form=None) -> Candidate:
    return Candidate(
        candidate_id=candidate_id,
        structure=structure,
        source="test",
        band_gap_eV=gap,
        formation_energy_eV_per_atom=e_form,
    )


def reasons(report) -> dict[str, str]:
    return {r.candidate_id: r.reason for r in report.rejections}


def test_each_criterion_rejects_with_its_reason():
    disordered = rocksalt()
    disordered.replace_species({"Cl": {"Cl": 0.5, "Br": 0.5}})
    overlapping = rocksalt()
    overlapping.append("Na", [0.02, 0.0, 0.0])
    loaded = LoadResult(
        candidates=[
            candidate("ok", rocksalt(), gap=5.0, e_form=-2.0),
            candidate("no-na", rocksalt(species=("K", "Cl"))),
            candidate("metal", rocksalt(a=5.7, species=("Na", "I")), gap=0.0, e_form=-1.0),
            candidate("unstable", rocksalt(a=5.8, species=("Na", "Br")), gap=3.0, e_form=0.1),
            candidate("disordered", disordered),
            candidate("overlap", overlapping),
        ]
    )
    report = screen_candidates(loaded)
    assert [c.candidate_id for c in report.accepted] == ["ok"]
    why = reasons(report)
    assert why["no-na"].startswith("no Na")
    assert why["metal"].startswith("band gap: 0.000 eV is not > 0")
    assert why["unstable"].startswith("formation energy: 0.100 eV/atom is not < 0")
    assert why["disordered"].startswith("partial occupancies")
    # the added Na sits 0.02 * 5.64 A from the Na at the origin
    assert why["overlap"].startswith("overlapping atoms")
    assert "0.113 A apart" in why["overlap"]
    assert len(report.accepted) + len(report.rejections) == len(loaded.candidates)


def test_disordered_kept_when_asked_and_size_limit():
    disordered = rocksalt()
    disordered.replace_species({"Cl": {"Cl": 0.5, "Br": 0.5}})
    report = screen_candidates(
        LoadResult(
            candidates=[candidate("d", disordered), candidate("big", rocksalt() * (2, 2, 2))]
        ),
        ScreeningCriteria(allow_disordered=True, max_sites=20),
    )
    assert [c.candidate_id for c in report.accepted] == ["d"]
    assert reasons(report)["big"] == "too large: 64 sites > max_sites 20"


def test_deduplication_keeps_the_lowest_formation_energy_of_equivalent_structures():
    conventional = rocksalt()
    primitive = conventional.get_primitive_structure()
    # the same crystal rotated as a whole, strained by 1 % and with its sites listed in reverse order
    rotation = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    rotated_lattice = Lattice(conventional.lattice.matrix @ rotation.T * 1.01)
    rotated_strained = Structure(
        rotated_lattice, conventional.species[::-1], conventional.frac_coords[::-1]
    )
    other_compound = rocksalt(species=("Na", "F"), a=4.63)
    loaded = LoadResult(
        candidates=[
            candidate("conv", conventional, e_form=-2.0),
            candidate("prim", primitive, e_form=-2.1),
            candidate("shuffled", rotated_strained, e_form=-1.9),
            candidate("naf", other_compound, e_form=-3.0),
        ]
    )
    report = screen_candidates(loaded)
    assert sorted(c.candidate_id for c in report.accepted) == ["naf", "prim"]
    why = reasons(report)
    assert why == {"conv": "duplicate: of prim", "shuffled": "duplicate: of prim"}


def test_repeated_ids_are_reported():
    loaded = LoadResult(
        candidates=[
            candidate("x", rocksalt()),
            candidate("x", rocksalt(a=6.0, species=("Na", "Br"))),
        ]
    )
    report = screen_candidates(loaded)
    assert reasons(report) == {"x": "repeated id: already loaded"}


@pytest.mark.shared_data
def test_pool_passes_the_screen_and_nothing_is_dropped_silently(pool):
    """Every pool row has Na, gap > 0, E_form < 0 (its README says so); what the screen drops is explained."""
    report = screen_candidates(pool, ScreeningCriteria(max_sites=None))
    assert len(report.accepted) + len(report.rejections) == len(pool.candidates)
    reasons_seen = {r.reason.split(":")[0] for r in report.rejections}
    assert reasons_seen <= {"duplicate"}, reasons_seen
    assert all(c.band_gap_eV > 0 and c.formation_energy_eV_per_atom < 0 for c in report.accepted)
    # phononDB holds one calculation per Materials Project entry: duplicates, if any, are rare
    assert len(report.accepted) > 0.95 * len(pool.candidates)


def test_closest_pair_matches_brute_force_distance_matrix():
    from na_lattice_flows.candidates.screen import closest_pair

    rng = np.random.default_rng(1)
    structure = Structure(Lattice.cubic(6.0), ["Na"] * 12, rng.random((12, 3)))
    distances = structure.distance_matrix + np.eye(len(structure)) * 100
    expected = distances.min()
    i, j, found = closest_pair(structure, cutoff=expected + 1e-6)
    assert found == pytest.approx(expected)
    assert distances[i, j] == pytest.approx(expected)
    assert closest_pair(structure, cutoff=expected - 1e-6) is None
