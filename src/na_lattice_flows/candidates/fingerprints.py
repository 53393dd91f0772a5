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
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import spglib
from monty.json import jsanitize
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from na_lattice_flows.errors import InputError
from na_lattice_flows.legacy_paths import NEW_TO_OLD_MODULE
from na_lattice_flows.settings import SETTINGS

SYMPREC = SETTINGS.symprec_A  # as the space-group labels of the screening records
ANGLE_TOLERANCE_DEG = (
    5.0  # pymatgen's SpacegroupAnalyzer default, which the screening records' labels use
)


@dataclass(frozen=True)
class StructureIdentity:
    """A structure's symmetry-aware fingerprint and the primitive cell that confirms a match."""

    fingerprint: str
    # the standard primitive cell, POSCAR text: what matches are confirmed on
    canonical_cell: str = field(repr=False)


def structure_identity(structure: Structure) -> StructureIdentity:
    """Canonical key of ``structure``: formula, space group and the multiset of (element, orbit size, site
    symmetry) over its crystallographic orbits, sizes counted in the primitive cell; with spglib's standard
    primitive cell, compact enough to keep in a workflow's metadata.

    Wyckoff letters are not used: an origin shift relabels them (NaCl's Na on 4a or 4b), while orbit sizes and
    site symmetries stay. spglib's ``crystallographic_orbits`` join atoms by the symmetry of the primitive cell:
    in a supercell its ``equivalent_atoms`` split orbits that operations incompatible with the supercell's lattice
    would join. The key is exact in symmetry: a variant distorted into a subgroup (which StructureMatcher may
    still call the same) is another key, so it is submitted as new work. One spglib dataset, called directly
    (pymatgen's SpacegroupAnalyzer, as in release 0.1, builds the standard primitive cell site by site and
    analyses it again: the same keys for the whole candidate pool, test_submission, in twice the time)."""
    species = [site.species_string for site in structure]
    kinds = {name: index for index, name in enumerate(dict.fromkeys(species))}
    cell = (structure.lattice.matrix, structure.frac_coords, [kinds[name] for name in species])
    dataset = spglib.get_symmetry_dataset(
        cell, symprec=SYMPREC, angle_tolerance=ANGLE_TOLERANCE_DEG
    )
    if dataset is None:
        raise InputError(
            f"{structure.composition.reduced_formula}: spglib finds no symmetry ({spglib.get_error_message()})"
        )
    cells_per_primitive = len(structure) // len(set(dataset.mapping_to_primitive))
    descriptions = sorted(
        f"{species[atom]}:{size // cells_per_primitive}:{dataset.site_symmetry_symbols[atom]}"
        for atom, size in Counter(dataset.crystallographic_orbits).items()
    )
    digest = hashlib.sha1(";".join(descriptions).encode()).hexdigest()[:10]
    lattice, positions, types = spglib.standardize_cell(
        cell, to_primitive=True, symprec=SYMPREC, angle_tolerance=ANGLE_TOLERANCE_DEG
    )
    names = list(kinds)
    primitive = Structure(lattice, [names[kind] for kind in types], positions)
    return StructureIdentity(
        f"{structure.composition.reduced_formula}-{dataset.number}-{digest}",
        primitive.to(fmt="poscar"),
    )


PARALLEL_FROM = (
    200  # structures; fewer are done here at once (a pool's processes take seconds to start)
)
CHUNK = 16  # structures per task of the pool


def _identities(structures: list[Structure]) -> list[StructureIdentity]:
    return [structure_identity(structure) for structure in structures]


def structure_identities(
    structures: list[Structure], processes: int = 1
) -> Iterator[StructureIdentity]:
    """``structure_identity`` of each structure (spglib), yielded in order as they come, so that the
    caller works on the first while the rest are computed. With ``processes`` (at most one per core) and
    ``PARALLEL_FROM`` structures or more, this process is one of them: a pool of ``processes - 1`` takes chunks
    from the end, this process from the front whatever the pool has not started (the caller's own work, making
    flows, goes on between them; the pool takes seconds to start), until they meet: faster than a pool of
    ``processes`` with the caller waiting (README "Production", submitting the pool).
    The pool's processes start fresh (no fork of a process that holds torch's threads) and so import the calling
    script: a script that asks for processes needs ``if __name__ == "__main__":``, as with any multiprocessing."""
    processes = min(processes, os.cpu_count() or 1)
    if len(structures) < PARALLEL_FROM or processes < 2:
        yield from map(structure_identity, structures)
        return
    starts = range(0, len(structures), CHUNK)
    pool = ProcessPoolExecutor(processes - 1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        tasks = {
            start: pool.submit(_identities, structures[start : start + CHUNK])
            for start in reversed(starts)
        }
        for start in starts:
            if tasks[start].cancel():  # not started by the pool: done here
                yield from _identities(structures[start : start + CHUNK])
            else:
                yield from tasks[start].result()
    finally:  # also when the caller stops early: what is not started yet is dropped
        pool.shutdown(cancel_futures=True)


def same_crystal(structure: Structure, stored_cell: str) -> bool:
    """StructureMatcher's verdict (its default tolerances) on ``structure`` and a ``canonical_cell`` text."""
    return StructureMatcher().fit(structure, Structure.from_str(stored_cell, fmt="poscar"))


# Where results are written is not a setting of the physics: the same flow writing elsewhere is a repeat.
LOCATION_FIELDS = ("trajectory_dir",)
# Maker fields added after release 0.2, with the value that means "as before": left out of the description while
# they hold it, so that the settings of earlier campaigns keep their fingerprints
OPTIONAL_FIELDS_ADDED = {"committee_maker": None, "stability": "harmonic", "md_on_unstable": False}


def settings_fingerprint(maker: Any) -> str:
    """Hash of a Maker's full settings (every field, nested Makers included, by class name and value): a
    campaign resubmitted with a different model, preset or engine is new work, the same settings are a repeat.
    Independent of module paths (a reorganised package does not make finished work new), package versions and
    output folders."""
    description = _settings_description(maker, keep_modules=False)
    return hashlib.sha1(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def legacy_settings_fingerprint(maker: Any) -> str:
    """The 0.1 release's fingerprint of the same settings: it hashed the Makers' module paths of 0.1's flat
    layout and the trajectory folder, so those are put back here. A store written by 0.1 keeps its
    fingerprints; resubmitting its structures with the same settings is recognised through this one."""
    description = _settings_description(maker, keep_modules=True)
    return hashlib.sha1(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]


def _settings_description(maker: Any, keep_modules: bool) -> Any:
    described = _drop_unset(
        jsanitize(maker.as_dict(), strict=False, allow_bson=False, enum_values=True)
    )
    return (
        _old_module_paths(_strip(described, ("@version",)))
        if keep_modules
        else _strip(described, ("@version", "@module", *LOCATION_FIELDS))
    )


def _drop_unset(value: Any) -> Any:
    """``value`` without the ``OPTIONAL_FIELDS_ADDED`` that hold their "as before" value, at any depth."""
    if isinstance(value, dict):
        return {
            k: _drop_unset(v)
            for k, v in value.items()
            if not (k in OPTIONAL_FIELDS_ADDED and v == OPTIONAL_FIELDS_ADDED[k])
        }
    if isinstance(value, list):
        return [_drop_unset(item) for item in value]
    return value


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
