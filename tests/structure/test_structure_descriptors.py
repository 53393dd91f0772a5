"""Structural descriptors on rock-salt NaCl, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Element, Lattice, Structure

from na_lattice_flows.structure.descriptors import structure_descriptors


def test_rocksalt_by_hand():
    a = 5.64
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    d = structure_descriptors(nacl)
    assert d.mean_na_coordination == 6
    assert d.number_density_per_A3 == pytest.approx(8 / a**3)
    assert d.volume_per_atom_A3 == pytest.approx(a**3 / 8)
    radii = Element("Na").atomic_radius ** 3 + Element("Cl").atomic_radius ** 3
    assert d.packing_fraction == pytest.approx(4 * 4 / 3 * np.pi * radii / a**3)
    assert d.mean_pauling_electronegativity == pytest.approx((0.93 + 3.16) / 2)
    assert d.mean_electron_count == pytest.approx((11 + 17) / 2)
    # within 3.5 A only the six nearest neighbours at a/2 (the next shell is at a/sqrt(2) = 3.99 A)
    assert d.mean_bond_length_A == pytest.approx(a / 2)
    assert d.mean_na_bond_length_A == pytest.approx(a / 2)


def test_structure_without_na_is_refused():
    kcl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.29), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    with pytest.raises(ValueError, match="no Na in KCl"):
        structure_descriptors(kcl)
