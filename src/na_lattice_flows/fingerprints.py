"""Identities that make submission idempotent: of a structure (symmetry-aware) and of a flow's settings.

A structure's fingerprint is ``<reduced formula>-<space group number>-<hash of its orbits>``: it does
not change with the cell choice (primitive, conventional, supercell), atom order, origin or small distortions
within the symmetry tolerance, so the same crystal from two databases gets the same key. Two different crystals
can still share it (same formula, group and kinds of orbits but other free parameters), so a key match
is confirmed with pymatgen's StructureMatcher on the stored primitive cell before anything is called a repeat.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from monty.json import jsanitize
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

SYMPREC = 0.1  # A, as the space-group labels of the screening documents


def _analyzer(structure: Structure) -> SpacegroupAnalyzer:
    return SpacegroupAnalyzer(structure, symprec=SYMPREC)


@dataclass(frozen=True)
class StructureIdentity:
    fingerprint: str
    canonical_cell: str = field(repr=False)  # the standard primitive cell, POSCAR text: what matches are confirmed on


def structure_identity(structure: Structure) -> StructureIdentity:
    """Canonical key of ``structure``: formula, space group and the multiset of (element, orbit size, site
    symmetry) over its crystallographic orbits in the standard primitive cell; with that cell, compact enough
    to keep in a workflow's metadata.

    Wyckoff letters are not used: an origin shift relabels them (NaCl's Na on 4a or 4b), while orbit sizes and
    site symmetries stay. The orbits are taken in the standard primitive cell because in a supercell spglib's
    equivalent atoms split orbits that operations incompatible with the supercell's lattice would join. The key
    is exact in symmetry: a variant distorted into a subgroup (which StructureMatcher may still call the same)
    is another key, so it is submitted as new work."""
    primitive = _analyzer(structure).get_primitive_standard_structure()
    analyzer = _analyzer(primitive)
    dataset = analyzer.get_symmetry_dataset()
    orbits = Counter(dataset.equivalent_atoms)
    descriptions = sorted(
        f"{primitive[atom].species_string}:{size}:{dataset.site_symmetry_symbols[atom]}" for atom, size in orbits.items()
    )
    digest = hashlib.sha1(";".join(descriptions).encode()).hexdigest()[:10]
    fingerprint = f"{structure.composition.reduced_formula}-{analyzer.get_space_group_number()}-{digest}"
    return StructureIdentity(fingerprint, primitive.to(fmt="poscar"))


def same_crystal(structure: Structure, stored_cell: str) -> bool:
    """StructureMatcher's verdict (its default tolerances) on ``structure`` and a ``canonical_cell`` text."""
    return StructureMatcher().fit(structure, Structure.from_str(stored_cell, fmt="poscar"))


def settings_fingerprint(maker: Any) -> str:
    """Hash of a Maker's full settings (every field, nested Makers included): a campaign resubmitted with a
    different model, preset or engine is new work, the same settings are a repeat."""
    description = _without_versions(jsanitize(maker.as_dict(), strict=False, allow_bson=False, enum_values=True))
    return hashlib.sha1(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _without_versions(value: Any) -> Any:
    """Drop monty's ``@version`` entries: upgrading a package does not make a finished calculation new work."""
    if isinstance(value, dict):
        return {key: _without_versions(item) for key, item in value.items() if key != "@version"}
    if isinstance(value, list):
        return [_without_versions(item) for item in value]
    return value
