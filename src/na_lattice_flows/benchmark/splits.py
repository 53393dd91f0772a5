"""Splits of phononDB archives by material, for choosing and training force fields without leaks.

A material is its reduced formula: polymorphs of one composition fall on the same side, so a model is never
validated on a structure whose chemistry (and near-identical local environments) it was trained on. The side is
a hash of the formula, so the split is the same on every machine, for any subset of the archives, and adding
archives never moves an existing one.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile
from collections.abc import Iterable
from pathlib import Path

from pymatgen.core import Composition

VALIDATION_FRACTION = (
    0.2  # one material in five of phonondb_train validates; the rest (and phonondb_dev) trains
)
SPLIT_SALT = "na-flows-phonondb-split-1"


def archive_formula(path: str | Path) -> str:
    """The reduced formula of a phononDB archive's POSCAR-unitcell (read without unpacking the force sets)."""
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(Path(path).read_bytes()))) as tar:
        [member] = [m for m in tar.getmembers() if m.name.endswith("POSCAR-unitcell")]
        lines = tar.extractfile(member).read().decode().splitlines()
    symbols, counts = lines[5].split(), [int(c) for c in lines[6].split()]
    return Composition(dict(zip(symbols, counts, strict=True))).reduced_formula


def is_validation_material(formula: str, fraction: float = VALIDATION_FRACTION) -> bool:
    """Whether a material (reduced formula) is on the validation side: its salted hash falls below ``fraction``."""
    digest = hashlib.sha256(f"{SPLIT_SALT}:{formula}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_by_material(
    archives: Iterable[str | Path], fraction: float = VALIDATION_FRACTION
) -> dict[str, list[Path]]:
    """``{"train": [...], "validation": [...]}`` of the archives, by material (sorted paths)."""
    sides: dict[str, list[Path]] = {"train": [], "validation": []}
    for path in sorted(Path(a) for a in archives):
        sides[
            "validation" if is_validation_material(archive_formula(path), fraction) else "train"
        ].append(path)
    return sides


def specialist_training_archives(shared_data: str | Path) -> list[Path]:
    """The archives a phonon specialist may train on: the training side of phonondb_train and every phonondb_dev
    archive whose material is not a validation material (one dev formula is), so validation stays unseen."""
    shared_data = Path(shared_data)
    train = split_by_material((shared_data / "phonondb_train").glob("*.tar.lzma"))["train"]
    dev = [
        p
        for p in sorted((shared_data / "phonondb_dev").glob("*.tar.lzma"))
        if not is_validation_material(archive_formula(p))
    ]
    return [*train, *dev]
