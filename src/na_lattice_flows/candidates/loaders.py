"""Load candidate structures from the sources users have: CSV tables, folders of files, JSON, OPTIMADE.

Every loader returns ``LoadResult``: the candidates it could read and one ``Rejection`` for each entry it
could not, naming the entry and the reason, so that one unreadable file never stops the others.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from na_lattice_flows.errors import InputError

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".json")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR", "POSCAR-unitcell")

# Column names recognised in candidate tables (first match wins).
ID_COLUMNS = ("material_id", "id", "entry_id", "name")
STRUCTURE_COLUMNS = ("poscar_unitcell_phonondb", "poscar", "structure", "cif")
GAP_COLUMNS = ("gap_pbe_eV_MP2018", "band_gap", "band_gap_eV", "gap")
FORMATION_COLUMNS = ("e_form_eV_per_atom_MP2018", "formation_energy_per_atom", "e_form", "delta_e")


class CandidateInputError(InputError):
    """An input as a whole cannot be used (missing, empty, wrong format)."""


class Candidate(BaseModel):
    """One structure to screen, with the database properties that the screen reads."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidate_id: str
    structure: Structure
    source: str = Field(description="File, table row or query the structure came from")
    band_gap_eV: float | None = None
    formation_energy_eV_per_atom: float | None = None

    @property
    def formula(self) -> str:
        """Reduced formula of the structure."""
        return self.structure.composition.reduced_formula


class Rejection(BaseModel):
    """A structure that was not taken further, and why."""

    candidate_id: str
    source: str
    reason: str


class LoadResult(BaseModel):
    """What loading inputs gave: the candidates, the inputs refused (and why), and notes."""

    candidates: list[Candidate] = Field(default_factory=list)
    rejections: list[Rejection] = Field(default_factory=list)
    notes: list[str] = Field(
        default_factory=list, description="What the user should know: renamed ids, skipped files"
    )

    def extend(self, other: LoadResult) -> None:
        """Add another load's candidates, rejections and notes."""
        self.candidates.extend(other.candidates)
        self.rejections.extend(other.rejections)
        self.notes.extend(other.notes)


def make_ids_unique(result: LoadResult) -> None:
    """Give candidates that share an id (``cand.cif`` in two folders, one material id in two tables) distinct
    ids: the id prefixed with its file's folder (``A-cand``, ``B-cand``), numbered where that is not enough.
    A file name alone does not identify a structure; each renaming is noted."""
    by_id: dict[str, list[Candidate]] = {}
    for candidate in result.candidates:
        by_id.setdefault(candidate.candidate_id, []).append(candidate)
    taken = set(by_id)
    for candidate_id, group in by_id.items():
        if len(group) < 2:
            continue
        for position, candidate in enumerate(group):
            folder = Path(candidate.source.split(":")[0].split("[")[0]).parent.name
            new_id = f"{folder}-{candidate_id}" if folder else candidate_id
            suffix = position + 1
            while new_id in taken:
                suffix += 1
                new_id = f"{candidate_id}-{suffix}"
            taken.add(new_id)
            result.notes.append(
                f"{new_id} ({candidate.source}): renamed from {candidate_id}, an id {len(group)} inputs share"
            )
            candidate.candidate_id = new_id


def _first_present(columns: Iterable[str], header: list[str]) -> str | None:
    return next((c for c in columns if c in header), None)


def _optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def structure_from_text(text: str) -> Structure:
    """Parse POSCAR or CIF text (the format is sniffed, as pymatgen does for files)."""
    stripped = text.lstrip()
    fmt = "cif" if stripped.startswith("data_") or "_cell_length_a" in text else "poscar"
    return Structure.from_str(text, fmt=fmt)


def load_csv(path: str | Path) -> LoadResult:
    """Rows with an id, a POSCAR/CIF text column and optionally gap and formation energy columns."""
    path = Path(path)
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        structure_column = _first_present(STRUCTURE_COLUMNS, header)
        if structure_column is None:
            raise CandidateInputError(
                f"{path}: no structure column; expected one of {', '.join(STRUCTURE_COLUMNS)}, "
                f"found {', '.join(header) or 'no header'}"
            )
        id_column = _first_present(ID_COLUMNS, header)
        gap_column = _first_present(GAP_COLUMNS, header)
        formation_column = _first_present(FORMATION_COLUMNS, header)
        result = LoadResult()
        for row_number, row in enumerate(reader, start=2):
            candidate_id = (
                row.get(id_column) if id_column else None
            ) or f"{path.stem}-row{row_number}"
            source = f"{path}:{row_number}"
            try:
                structure = structure_from_text(row[structure_column])
                gap = _optional_float(row.get(gap_column)) if gap_column else None
                e_form = _optional_float(row.get(formation_column)) if formation_column else None
            except Exception as exc:  # noqa: BLE001 - any parse failure rejects this row only
                result.rejections.append(
                    Rejection(
                        candidate_id=candidate_id, source=source, reason=f"unreadable row: {exc}"
                    )
                )
                continue
            result.candidates.append(
                Candidate(
                    candidate_id=candidate_id,
                    structure=structure,
                    source=source,
                    band_gap_eV=gap,
                    formation_energy_eV_per_atom=e_form,
                )
            )
    return result


def _is_structure_file(path: Path) -> bool:
    return path.is_file() and (
        path.suffix.lower() in STRUCTURE_SUFFIXES
        or path.name in STRUCTURE_NAMES
        or path.name.startswith(("POSCAR", "CONTCAR"))
    )


def load_structure_file(path: str | Path) -> LoadResult:
    """A single CIF/POSCAR file (or a JSON list of structures)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return load_json(path)
    try:
        structure = Structure.from_file(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure rejects this file only
        return LoadResult(
            rejections=[
                Rejection(candidate_id=path.stem, source=str(path), reason=_unreadable(path, exc))
            ]
        )
    return LoadResult(
        candidates=[Candidate(candidate_id=path.stem, structure=structure, source=str(path))]
    )


def _unreadable(path: Path, exc: Exception) -> str:
    """Why a structure file could not be read. pymatgen's CIF errors rarely say where the syntax breaks
    ("Invalid CIF file with no structures!", or an arithmetic error deep inside), so a CIF is read again by
    ASE's parser, whose errors name the faulty loop row or token."""
    if path.suffix.lower() != ".cif":
        return f"unreadable file: {exc}"
    from ase.io.cif import parse_cif

    text = path.read_text(errors="replace")
    if not text.strip():
        return "could not parse the CIF: the file is empty"
    if "data_" not in text:
        return "could not parse the CIF: no data_ block (not a CIF file)"
    try:
        for _ in parse_cif(str(path)):
            pass
    except Exception as syntax:  # noqa: BLE001 - the parser's own words are the message
        if str(syntax).strip():
            return f"could not parse the CIF: {syntax}"
    return f"could not parse the CIF: {type(exc).__name__}: {exc}"


def load_folder(path: str | Path) -> LoadResult:
    """Every input file in a folder (not recursive): CSV tables, JSON lists, CIF/POSCAR files. Each file that
    cannot be read is rejected with its reason and the others load; other files are listed as skipped."""
    path = Path(path)
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    files = [
        p for p in entries if p.is_file() and (p.suffix.lower() == ".csv" or _is_structure_file(p))
    ]
    if not files:
        raise CandidateInputError(
            f"{path}: no input files (*.csv, *.json, *.cif, *.vasp, *.poscar, POSCAR*, CONTCAR*)"
        )
    result = LoadResult()
    for file in files:
        result.extend(load_file(file))
    result.notes += [
        f"skipped {p} ({'a folder: not searched' if p.is_dir() else 'not an input type this reads'})"
        for p in entries
        if p not in files
    ]
    return result


def load_file(path: Path) -> LoadResult:
    """One input file of any supported type; a file that cannot be used at all is one rejection, not an error."""
    try:
        return load_csv(path) if path.suffix.lower() == ".csv" else load_structure_file(path)
    except (CandidateInputError, OSError, UnicodeDecodeError) as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        return LoadResult(
            rejections=[
                Rejection(
                    candidate_id=path.stem, source=str(path), reason=f"unreadable file: {reason}"
                )
            ]
        )


def load_json(path: str | Path) -> LoadResult:
    """A JSON list of pymatgen structures (``Structure.as_dict()``), optionally wrapped as
    ``{"candidate_id": .., "structure": {..}, "band_gap_eV": .., "formation_energy_eV_per_atom": ..}``."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CandidateInputError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise CandidateInputError(
            f"{path}: expected a JSON list of structures, found {type(entries).__name__}"
        )
    result = LoadResult()
    for index, entry in enumerate(entries):
        source = f"{path}[{index}]"
        fallback_id = f"{path.stem}-{index}"
        try:
            if isinstance(entry, dict) and "structure" in entry:
                result.candidates.append(
                    Candidate(
                        candidate_id=str(
                            entry.get("candidate_id") or entry.get("material_id") or fallback_id
                        ),
                        structure=Structure.from_dict(entry["structure"]),
                        source=source,
                        band_gap_eV=_optional_float(entry.get("band_gap_eV")),
                        formation_energy_eV_per_atom=_optional_float(
                            entry.get("formation_energy_eV_per_atom")
                        ),
                    )
                )
            else:
                structure = Structure.from_dict(entry)
                candidate_id = str(structure.properties.get("candidate_id", fallback_id))
                result.candidates.append(
                    Candidate(candidate_id=candidate_id, structure=structure, source=source)
                )
        except Exception as exc:  # noqa: BLE001
            result.rejections.append(
                Rejection(
                    candidate_id=fallback_id,
                    source=source,
                    reason=f"not a pymatgen structure: {exc}",
                )
            )
    return result


def load_candidates(paths: Iterable[str | Path]) -> LoadResult:
    """Load from any mix of CSV tables, JSON files, structure files and folders."""
    paths = list(paths)
    if not paths:
        raise CandidateInputError(
            "no input given: name CSV tables, JSON files, structure files or folders"
        )
    result = LoadResult()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise CandidateInputError(f"{path}: no such file or folder")
        if path.is_dir():
            result.extend(load_folder(path))
        elif path.suffix.lower() == ".csv" or _is_structure_file(path):
            result.extend(load_file(path))
        else:
            raise CandidateInputError(
                f"{path}: unknown input type; give a .csv table, a .json list, a CIF/POSCAR file or a folder"
            )
    if not result.candidates and not result.rejections:
        raise CandidateInputError(f"no structures found in {', '.join(map(str, paths))}")
    make_ids_unique(result)
    return result
