"""Structural descriptors the paper correlated with diffusion (§3): coordination, density, packing, chemistry.

Conventions: coordination numbers by pymatgen's CrystalNN; the packing fraction uses pymatgen's empirical atomic
radii (Slater); bond lengths are all interatomic distances up to 3.5 A (periodic images included).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.analysis.local_env import CrystalNN
from pymatgen.core import Structure

from na_lattice_flows.errors import InputError

BOND_CUTOFF_A = 3.5


class StructureDescriptors(BaseModel):
    """Structural descriptors of the Na sublattice."""

    mean_na_coordination: float = Field(
        description="Mean CrystalNN coordination number of the Na sites"
    )
    number_density_per_A3: float
    volume_per_atom_A3: float
    packing_fraction: float = Field(
        description="Sum of atomic-radius sphere volumes over the cell volume"
    )
    mean_pauling_electronegativity: float = Field(description="Mean over atoms (not over elements)")
    mean_electron_count: float = Field(description="Mean atomic number over atoms")
    mean_bond_length_A: float = Field(description="Mean of all interatomic distances up to 3.5 A")
    mean_na_bond_length_A: float = Field(description="Mean of Na-neighbour distances up to 3.5 A")


def structure_descriptors(structure: Structure, species: str = "Na") -> StructureDescriptors:
    """The structural descriptors of ``species`` in ``structure``; an absent species is named."""
    if species not in {el.symbol for el in structure.composition.elements}:
        raise InputError(f"no {species} in {structure.composition.reduced_formula}")
    n_atoms = len(structure)
    volume = structure.volume
    na_indices = [i for i, site in enumerate(structure) if site.specie.symbol == species]
    crystal_nn = CrystalNN()
    centers, _, _, distances = structure.get_neighbor_list(r=BOND_CUTOFF_A)
    is_na_center = np.isin(centers, na_indices)
    return StructureDescriptors(
        mean_na_coordination=float(np.mean([crystal_nn.get_cn(structure, i) for i in na_indices])),
        number_density_per_A3=n_atoms / volume,
        volume_per_atom_A3=volume / n_atoms,
        packing_fraction=float(
            sum(4 / 3 * np.pi * site.specie.atomic_radius**3 for site in structure) / volume
        ),
        mean_pauling_electronegativity=float(np.mean([site.specie.X for site in structure])),
        mean_electron_count=float(np.mean([site.specie.Z for site in structure])),
        mean_bond_length_A=float(distances.mean()) if len(distances) else float("nan"),
        mean_na_bond_length_A=float(distances[is_na_center].mean())
        if is_na_center.any()
        else float("nan"),
    )
