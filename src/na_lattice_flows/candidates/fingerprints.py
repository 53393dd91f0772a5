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
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from monty.json import jsanitize
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from na_lattice_flows._legacy import NEW_TO_OLD_MODULE
from na_lattice_flows.settings import SETTINGS

SYMPREC = SETTINGS.symprec_A  # as the space-group labels of the screening records


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


PARALLEL_FROM = 200  # structures; below this a pool's start (each process imports pymatgen, ~2 s) costs more than it saves


def structure_identities(structures: list[Structure], processes: int = 1) -> list[StructureIdentity]:
    """``structure_identity`` of each structure (spglib, ~12 ms each), over a pool of ``processes`` (at most one
    per core) for ``PARALLEL_FROM`` structures or more. The pool's processes start fresh (no fork of a process
    that holds torch's threads) and so import the calling script: a script that asks for processes needs
    ``if __name__ == "__main__":``, as with any multiprocessing."""
    processes = min(processes, os.cpu_count() or 1)
    if len(structures) < PARALLEL_FROM or processes < 2:
        return [structure_identity(structure) for structure in structures]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return list(pool.map(structure_identity, structures, chunksize=32))


def same_crystal(structure: Structure, stored_cell: str) -> bool:
    """StructureMatcher's verdict (its default tolerances) on ``structure`` and a ``canonical_cell`` text."""
    return StructureMatcher().fit(structure, Structure.from_str(stored_cell, fmt="poscar"))


# Where results are written is not a setting of the physics: the same flow writing elsewhere is a repeat.
LOCATION_FIELDS = ("trajectory_dir",)


def settings_fingerprint(maker: Any) -> str:
    """Hash of a Maker's full settings (every field, nested Makers included, by class name and value): a
    campaign resubmitted with a different model, preset or engine is new work, the same settings are a repeat.
    Independent of module paths (a reorganised package does not make finished work new), package versions and
    output folders."""
    description = _settings_description(maker, keep_modules=False)
    return hashlib.sha1(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]


def legacy_settings_fingerprint(maker: Any) -> str:
    """The 0.1 release's fingerprint of the same settings: it hashed the Makers' module paths of 0.1's flat
    layout and the trajectory folder, so those are put back here. A store written by 0.1 keeps its
    fingerprints; resubmitting its structures with the same settings is recognised through this one."""
    description = _settings_description(maker, keep_modules=True)
    return hashlib.sha1(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _settings_description(maker: Any, keep_modules: bool) -> Any:
    described = jsanitize(maker.as_dict(), strict=False, allow_bson=False, enum_values=True)
    return _old_module_paths(_strip(described, ("@version",))) if keep_modules else _strip(described, ("@version", "@module", *LOCATION_FIELDS))


def _strip(value: Any, keys: tuple[str, ...]) -> Any:
    """Drop ``keys`` everywhere (monty's ``@version``: upgrading a package does not make a calculation new work)."""
    if isinstance(value, dict):
        return {key: _strip(item, keys) for key, item in value.items() if key not in keys}
    if isinstance(value, list):
        return [_strip(item, keys) for item in value]
    return value


def _old_module_paths(value: Any) -> Any:
    """``@module`` entries as 0.1 wrote them (``relax.jobs`` -> ``jobs``)."""
    if isinstance(value, dict):
        value = {key: _old_module_paths(item) for key, item in value.items()}
        module = value.get("@module")
        if isinstance(module, str) and module in NEW_TO_OLD_MODULE:
            value["@module"] = NEW_TO_OLD_MODULE[module]
        return value
    if isinstance(value, list):
        return [_old_module_paths(item) for item in value]
    return value
