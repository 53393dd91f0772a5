"""Doped cells: icet's SQS on the Sb sublattice of Na3SbS4 is the best arrangement of the cell (brute force over
every placement, scored by icet's own objective) and reaches icet's random-alloy target where the cell allows it;
dopant and vacancy counts and charge balance are exact; the same seed gives the same cell."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.doping.cells import (
    charge_per_dopant,
    doped_supercell,
    parse_dopant,
    parse_supercell,
)


@pytest.fixture(scope="module")
def na3sbs4():
    return next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure()


def test_sqs_is_the_best_placement_by_brute_force_and_matches_the_random_target(na3sbs4):
    from icet import ClusterSpace
    from icet.tools.structure_generation import compare_cluster_vectors

    cell = doped_supercell(na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=3, vacancy_mode="none")
    atoms = AseAtomsAdaptor.get_atoms(na3sbs4)
    space = ClusterSpace(
        atoms,
        cutoffs=[8.0, 6.5],
        chemical_symbols=[["Sb", "W"] if s == "Sb" else [s] for s in atoms.get_chemical_symbols()],
    )
    target = np.array(cell.target_cluster_vector)
    supercell = AseAtomsAdaptor.get_atoms(na3sbs4 * (2, 2, 2))
    sb_sites = [i for i, s in enumerate(supercell.get_chemical_symbols()) if s == "Sb"]
    best = np.inf
    for pair in itertools.combinations(sb_sites, 2):  # all 120 placements of two W on 16 Sb sites
        trial = supercell.copy()
        for index in pair:
            trial[index].symbol = "W"
        best = min(
            best, compare_cluster_vectors(space.get_cluster_vector(trial), target, space.as_list)
        )
    found = compare_cluster_vectors(np.array(cell.sqs_cluster_vector), target, space.as_list)
    assert found == pytest.approx(best, abs=1e-9)
    # point and first-shell pair: exact
    np.testing.assert_allclose(cell.sqs_cluster_vector[:3], target[:3], atol=1e-5)


def test_counts_charge_balance_and_controls(na3sbs4):
    assert charge_per_dopant(na3sbs4, "W", "Sb") == 1  # W6+ on Sb5+
    compensated = doped_supercell(na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=1)
    assert (compensated.n_dopant, compensated.n_vacancies, compensated.net_charge_e) == (2, 2, 0.0)
    composition = compensated.structure.composition
    assert (composition["W"], composition["Sb"], composition["Na"], composition["S"]) == (
        2,
        14,
        46,
        64,
    )
    formal = {"Na": 1, "W": 6, "Sb": 5, "S": -2}
    # charge balanced
    assert sum(formal[element.symbol] * count for element, count in composition.items()) == 0
    dopant_only = doped_supercell(na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=1, vacancy_mode="none")
    assert (dopant_only.structure.composition["Na"], dopant_only.net_charge_e) == (48, 2.0)
    vacancies_only = doped_supercell(
        na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=1, vacancy_mode="only"
    )
    assert (
        vacancies_only.structure.composition["W"],
        vacancies_only.structure.composition["Na"],
        vacancies_only.net_charge_e,
    ) == (0, 46, -2.0)
    # the achieved fraction depends on the cell: 0.1 of 16 sites rounds to 2 W = 0.125
    assert doped_supercell(na3sbs4, "W", "Sb", 0.1, (2, 2, 2)).achieved_fraction == 0.125


def test_same_seed_same_cell_other_seed_other_vacancies(na3sbs4):
    first = doped_supercell(na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=7)
    again = doped_supercell(na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=7)
    assert first.structure == again.structure
    others = [
        doped_supercell(na3sbs4, "W", "Sb", 0.125, (2, 2, 2), seed=s, vacancy_mode="only").structure
        for s in (1, 2, 3)
    ]
    assert len({tuple(map(tuple, np.round(s.frac_coords, 6))) for s in others}) > 1


def test_bad_input_is_named(na3sbs4):
    with pytest.raises(ValueError, match="smallest non-zero fraction is 1/16"):
        doped_supercell(na3sbs4, "W", "Sb", 0.01, (2, 2, 2))
    with pytest.raises(ValueError, match="host site P: not in Na3SbS4"):
        doped_supercell(na3sbs4, "W", "P", 0.1, (2, 2, 2))
    with pytest.raises(ValueError, match="DOPANT:HOST"):
        parse_dopant("W-Sb")
    with pytest.raises(ValueError, match="NxMxK"):
        parse_supercell("2x2")
    assert parse_dopant("W:Sb") == ("W", "Sb") and parse_supercell("2x2x3") == (2, 2, 3)


@pytest.mark.shared_data
def test_tetragonal_na3sbs4_from_the_pools_na3ps4(pool):
    """mp-28782 (tetragonal Na3PS4, P-42_1c) with Sb on the P sites keeps its space group, its c/a and gets the
    cubic phases' volume ratio; the same code behind `na-flows doping host`."""
    from na_lattice_flows.doping.hosts import CUBIC_LATTICE_A, space_group, substituted_host

    parent = next(c.structure for c in pool.candidates if c.candidate_id == "mp-28782")
    host = substituted_host(parent, "P", "Sb")
    assert space_group(parent) == space_group(host) == "P-42_1c"
    assert host.composition.reduced_formula == "Na3SbS4"
    assert host.volume / parent.volume == pytest.approx(
        (CUBIC_LATTICE_A["Na3SbS4"] / CUBIC_LATTICE_A["Na3PS4"]) ** 3
    )
    assert host.lattice.c / host.lattice.a == pytest.approx(parent.lattice.c / parent.lattice.a)
    with pytest.raises(ValueError, match="no As in Na3PS4"):
        substituted_host(parent, "As", "Sb")
