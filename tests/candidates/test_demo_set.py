"""The built-in demo set: right space groups, stoichiometries and bond lengths, and it passes the screen."""

from __future__ import annotations

import pytest
from pymatgen.analysis.local_env import CrystalNN
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS, demo_candidates
from na_lattice_flows.candidates.loaders import LoadResult
from na_lattice_flows.candidates.screen import screen_candidates

EXPECTED = {
    # name: (space group number, formula, Na coordination number)
    "NaCl": (225, "NaCl", 6),
    "Na2S": (225, "Na2S", 4),
    "Na3OCl": (221, "Na3ClO", 2),  # linear O-Na-O at a/2; the 4 Cl at a/sqrt(2) form a second shell
    "Na3PS4": (217, "Na3PS4", 4),
    "Na3SbS4": (217, "Na3SbS4", 4),
}


@pytest.mark.parametrize("compound", DEMO_COMPOUNDS, ids=lambda c: c.name)
def test_demo_compound_structure(compound):
    structure = compound.structure()
    number, formula, na_coordination = EXPECTED[compound.name]
    assert SpacegroupAnalyzer(structure).get_space_group_symbol() == compound.space_group
    assert SpacegroupAnalyzer(structure).get_space_group_number() == number
    assert structure.composition.reduced_formula == formula
    assert structure.lattice.a == pytest.approx(compound.a_A)
    na_index = next(i for i, site in enumerate(structure) if site.specie.symbol == "Na")
    assert CrystalNN().get_cn(structure, na_index) == na_coordination


def test_bond_lengths_match_the_references():
    structures = {c.name: c.structure() for c in DEMO_COMPOUNDS}
    nacl = structures["NaCl"]
    assert min(nacl.distance_matrix[0][1:]) == pytest.approx(5.6402 / 2)
    for name, center, bond in (("Na3PS4", "P", 2.06), ("Na3SbS4", "Sb", 2.32)):
        structure = structures[name]
        i = next(i for i, s in enumerate(structure) if s.specie.symbol == center)
        neighbors = structure.get_neighbors(structure[i], 3.0)
        assert len(neighbors) == 4 and all(n.specie.symbol == "S" for n in neighbors)
        assert all(n.nn_distance == pytest.approx(bond, abs=0.01) for n in neighbors)


def test_demo_set_passes_the_screen_and_spans_conductors():
    candidates = demo_candidates()
    report = screen_candidates(LoadResult(candidates=candidates))
    assert len(report.accepted) == len(candidates) >= 5
    assert {c.expected_conductor for c in DEMO_COMPOUNDS} == {True, False}
