"""DFT force references on displaced supercells: phonopy data that exists (phononDB archives and folders,
phonopy.yaml / phonopy_disp.yaml + FORCE_SETS) and new random-displacement sets (paper: 0.03 A, 30 supercells).

A ``DisplacementReference`` carries the unit cell, the supercell and primitive matrices and phonopy's dataset
(displacements with their forces), so every model is evaluated on exactly the same displaced supercells, and it
serialises to the JobStore like any pydantic document.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import phonopy
from phonopy import Phonopy
from pydantic import BaseModel, Field
from pymatgen.core import Structure
from pymatgen.io.phonopy import get_phonopy_structure, get_pmg_structure
from tqdm.auto import tqdm

from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import SETTINGS

ARCHIVE_SUFFIXES = (".tar.lzma", ".tar.xz", ".tar.gz", ".tgz", ".tar.bz2", ".tar")
PHONONDB_FILES = ("POSCAR-unitcell", "FORCE_SETS")


class ReferenceError(InputError):
    """A reference input that cannot be read, named with what is missing."""


class DisplacementReference(BaseModel):
    """Displaced supercells of one crystal with reference (DFT) forces, in phonopy's terms."""

    name: str
    source: str
    unitcell: Structure
    supercell_matrix: list[list[int]]
    primitive_matrix: list[list[float]] | None = None
    dataset: dict[str, Any] = Field(
        description="phonopy displacement dataset (type 1 or 2) with forces"
    )

    @property
    def is_random_displacement(self) -> bool:
        """phonopy type-2 dataset (every atom displaced), as opposed to one finite displacement per supercell."""
        return "displacements" in self.dataset

    def to_phonopy(self) -> Phonopy:
        """A Phonopy object holding this dataset (forces included)."""
        ph = Phonopy(
            get_phonopy_structure(self.unitcell),
            supercell_matrix=self.supercell_matrix,
            primitive_matrix=self.primitive_matrix if self.primitive_matrix is not None else "P",
        )
        ph.dataset = _dataset_arrays(self.dataset)
        return ph

    @property
    def forces(self) -> np.ndarray:
        """Reference forces, shape (n_supercells, n_atoms, 3), eV/A, read from the dataset."""
        if self.is_random_displacement:
            return np.asarray(self.dataset["forces"], dtype=float)
        return np.asarray([entry["forces"] for entry in self.dataset["first_atoms"]], dtype=float)


def _dataset_arrays(dataset: dict) -> dict:
    """phonopy wants numpy arrays where JSON gives lists."""
    if "displacements" in dataset:
        return {
            key: np.asarray(value, dtype=float) if key in ("displacements", "forces") else value
            for key, value in dataset.items()
        }
    converted = {key: value for key, value in dataset.items() if key != "first_atoms"}
    converted["first_atoms"] = [
        {
            key: np.asarray(value, dtype=float) if key in ("displacement", "forces") else value
            for key, value in entry.items()
        }
        for entry in dataset["first_atoms"]
    ]
    return converted


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return value


def reference_from_phonopy(ph: Phonopy, name: str, source: str) -> DisplacementReference:
    """A reference from a Phonopy object holding displacements and forces."""
    if ph.dataset is None or ph.forces is None:
        raise ReferenceError(f"{source}: the phonopy data holds no forces (FORCE_SETS missing?)")
    primitive = (
        None
        if np.allclose(ph.primitive_matrix, np.eye(3))
        else np.asarray(ph.primitive_matrix).tolist()
    )
    return DisplacementReference(
        name=name,
        source=source,
        unitcell=get_pmg_structure(ph.unitcell),
        supercell_matrix=np.asarray(ph.supercell_matrix, dtype=int).tolist(),
        primitive_matrix=primitive,
        dataset=_jsonable(ph.dataset),
    )


def _parse_matrix(text: str, size: int) -> list[list[float]]:
    numbers = [float(Fraction(token)) for token in text.split()]
    if len(numbers) == 3 and size == 9:
        return np.diag(numbers).tolist()
    if len(numbers) != size:
        raise ReferenceError(f"expected 3 or 9 numbers, got {text!r}")
    return np.reshape(numbers, (3, 3)).tolist()


def parse_phonopy_conf(text: str) -> tuple[list[list[int]], list[list[float]] | None]:
    """DIM and PRIMITIVE_AXES (or the older PRIMITIVE_AXIS) of a phonopy.conf."""
    tags = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            tags[key.strip().upper()] = value.split("#")[0].strip()
    if "DIM" not in tags:
        raise ReferenceError("phonopy.conf has no DIM tag")
    dim = np.rint(_parse_matrix(tags["DIM"], 9)).astype(int).tolist()
    axes = tags.get("PRIMITIVE_AXES", tags.get("PRIMITIVE_AXIS"))
    primitive = None if axes in (None, "") or axes.upper() == "AUTO" else _parse_matrix(axes, 9)
    return dim, primitive


def _load_phonondb_folder(folder: Path, name: str, source: str) -> DisplacementReference:
    conf = folder / "phonopy.conf"
    if not conf.is_file():
        raise ReferenceError(
            f"{source}: POSCAR-unitcell and FORCE_SETS found but no phonopy.conf (its DIM is the supercell)"
        )
    dim, primitive = parse_phonopy_conf(conf.read_text())
    ph = phonopy.load(
        supercell_matrix=dim,
        primitive_matrix=primitive
        if primitive is not None
        else "P",  # phononDB's phonopy: no axes = the unit cell
        unitcell_filename=str(folder / "POSCAR-unitcell"),
        force_sets_filename=str(folder / "FORCE_SETS"),
        is_nac=False,
        produce_fc=False,
        log_level=0,
    )
    return reference_from_phonopy(ph, name, source)


def _load_phonopy_yaml(path: Path, name: str, source: str) -> DisplacementReference:
    force_sets = path.parent / "FORCE_SETS"
    try:
        ph = phonopy.load(
            str(path),
            force_sets_filename=str(force_sets) if force_sets.is_file() else None,
            is_nac=False,
            produce_fc=False,
            log_level=0,
        )
    except Exception as exc:  # noqa: BLE001 - phonopy raises whatever its yaml reader meets (empty: AttributeError)
        raise ReferenceError(
            f"{source}: not a readable phonopy yaml ({type(exc).__name__}: {exc})"
        ) from exc
    return reference_from_phonopy(ph, name, source)


def _find_data_folder(root: Path) -> Path:
    """The folder holding the phonopy files: ``root`` itself or the one subfolder phononDB archives use."""
    if any((root / f).is_file() for f in (*PHONONDB_FILES, "phonopy.yaml", "phonopy_disp.yaml")):
        return root
    subfolders = [p for p in root.iterdir() if p.is_dir()]
    if len(subfolders) == 1:
        return _find_data_folder(subfolders[0])
    raise ReferenceError(
        f"{root}: no POSCAR-unitcell + FORCE_SETS, phonopy.yaml or phonopy_disp.yaml found"
    )


def _reference_name(path: Path) -> str:
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name if path.is_dir() else path.parent.name or path.stem


def reference_path_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be a DFT reference before it is read (missing, or a file of another kind), or None."""
    path = Path(path)
    if not path.exists():
        return f"{path}: no such file or folder"
    if path.is_file() and not path.name.endswith((*ARCHIVE_SUFFIXES, ".yaml", ".yml")):
        return (
            f"{path}: not a reference (give a phononDB archive {', '.join(ARCHIVE_SUFFIXES)}, a folder with "
            "POSCAR-unitcell, FORCE_SETS and phonopy.conf, or a phonopy(_disp).yaml)"
        )
    return None


def reference_digest(path: str | Path) -> str:
    """SHA-1 of a reference's bytes (an archive or yaml; a folder: its files by relative path), so that the
    same data submitted twice is recognised wherever it lies."""
    path = Path(path)
    digest = hashlib.sha1()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def load_reference(path: str | Path) -> DisplacementReference:
    """A DFT reference from a phononDB archive or folder, or phonopy.yaml / phonopy_disp.yaml (+ FORCE_SETS);
    forces that are not finite are refused (they would give a NaN RMSE that looks like a result)."""
    path = Path(path)
    if not path.exists():
        raise ReferenceError(f"{path}: no such file or folder")
    name = _reference_name(path)
    if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        with tempfile.TemporaryDirectory() as tmp:
            _extract_archive(path, Path(tmp))
            reference = load_reference_folder(Path(tmp), name=name, source=str(path))
    elif path.is_file():
        reference = _load_phonopy_yaml(path, name, str(path))
    else:
        reference = load_reference_folder(path, name=name, source=str(path))
    try:
        forces = reference.forces
    except (KeyError, TypeError, ValueError):
        raise ReferenceError(
            f"{path}: the data set holds no forces for its displacements"
        ) from None
    bad = int(np.size(forces) - np.isfinite(forces).sum())
    if bad:
        raise ReferenceError(f"{path}: {bad} force components are not finite numbers (NaN or inf)")
    return reference


def load_reference_folder(folder: Path, name: str, source: str) -> DisplacementReference:
    """A reference from a folder: phonoDB's files or a phonopy yaml with FORCE_SETS."""
    data = _find_data_folder(folder)
    if all((data / f).is_file() for f in PHONONDB_FILES):
        return _load_phonondb_folder(data, name, source)
    for yaml_name in ("phonopy_disp.yaml", "phonopy.yaml"):
        if (data / yaml_name).is_file():
            return _load_phonopy_yaml(data / yaml_name, name, source)
    raise ReferenceError(
        f"{source}: found {', '.join(p.name for p in data.iterdir())} but not a complete phonopy data set"
    )


def _extract_archive(path: Path, destination: Path) -> None:
    try:
        # phononDB: raw lzma stream, which tarfile does not sniff
        if path.name.endswith(".tar.lzma"):
            archive = tarfile.open(fileobj=io.BytesIO(lzma.decompress(path.read_bytes())))
        else:
            archive = tarfile.open(path)
        with archive:
            archive.extractall(destination, filter="data")
    except (tarfile.TarError, lzma.LZMAError, OSError) as exc:
        raise ReferenceError(f"{path}: not a readable archive ({exc})") from exc


def random_displacements(
    structure: Structure,
    supercell_matrix: list[list[int]],
    n_supercells: int = SETTINGS.phonon_supercells,
    amplitude_A: float = SETTINGS.displacement_amplitude_A,
    seed: int = 0,
) -> Phonopy:
    """The paper's displacement pattern: ``n_supercells`` supercells with every atom displaced by
    ``amplitude_A`` in a random direction (phonopy, seeded: the same supercells wherever they are made)."""
    ph = Phonopy(
        get_phonopy_structure(structure), supercell_matrix=supercell_matrix, primitive_matrix="auto"
    )
    ph.generate_displacements(
        distance=amplitude_A, number_of_snapshots=n_supercells, random_seed=seed
    )
    return ph


def random_displacement_reference(
    structure: Structure,
    supercell_matrix: list[list[int]],
    forces_of,
    name: str,
    n_supercells: int = SETTINGS.phonon_supercells,
    amplitude_A: float = SETTINGS.displacement_amplitude_A,
    seed: int = 0,
    remove_residual_forces: bool = False,
) -> DisplacementReference:
    """The paper's new references (``random_displacements``) with forces from
    ``forces_of(list[Atoms]) -> (n, N, 3)`` in one process (GPAW, an MLP). With ``remove_residual_forces``,
    the forces on the undisplaced supercell (same call) are taken off each supercell's (``without_residual``)."""
    ph = random_displacements(structure, supercell_matrix, n_supercells, amplitude_A, seed)
    cells = displaced_atoms(ph)
    if remove_residual_forces:
        forces = without_residual(forces_of([*cells, ase_atoms(ph.supercell)]))
    else:
        forces = forces_of(cells)
    return reference_with_forces(ph, forces, name, amplitude_A, seed)


def without_residual(forces) -> np.ndarray:
    """``forces`` (n + 1, N, 3) of n displaced supercells and, last, the undisplaced one: the n displaced
    supercells' forces less the undisplaced one's (phonopy's practice for a structure relaxed to a finite fmax:
    a force that does not depend on the displacements is no force constant, and a least-squares fit without a
    constant term spreads it into them; 0.002-0.012 eV/A on the campaign's relaxed cells moved soft modes by up
    to 0.4 THz)."""
    forces = np.asarray(forces, dtype=float)
    return forces[:-1] - forces[-1]


def reference_with_forces(
    ph: Phonopy, forces, name: str, amplitude_A: float, seed: int
) -> DisplacementReference:
    """``random_displacements``' supercells with their ``forces`` (n, N, 3) as a reference."""
    ph.forces = np.asarray(forces, dtype=float)
    return reference_from_phonopy(
        ph, name=name, source=f"random displacements {amplitude_A} A, seed {seed}"
    )


def displaced_atoms(ph: Phonopy) -> list:
    """The displaced supercells of ``ph`` as ASE Atoms, in dataset order."""
    from pymatgen.io.ase import AseAtomsAdaptor

    return [
        AseAtomsAdaptor.get_atoms(get_pmg_structure(s)) for s in ph.supercells_with_displacements
    ]


def ase_atoms(phonopy_atoms):
    """A phonopy cell (``ph.supercell``, ``ph.primitive``) as ASE Atoms, in phonopy's atom order (where its
    displacements and forces refer); phonopy converts to pymatgen but not to ASE."""
    from ase import Atoms

    return Atoms(
        numbers=phonopy_atoms.numbers,
        cell=phonopy_atoms.cell,
        scaled_positions=phonopy_atoms.scaled_positions,
        pbc=True,
    )


def displaced_supercells(reference: DisplacementReference) -> list:
    """The displaced supercells of ``reference`` as ASE Atoms, in dataset order."""
    return displaced_atoms(reference.to_phonopy())


def undisplaced_supercell(reference: DisplacementReference):
    """The perfect supercell of ``reference`` as ASE Atoms (where a model's residual forces are measured)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_atoms(get_pmg_structure(reference.to_phonopy().supercell))


def residual_forces(reference: DisplacementReference, calculator) -> np.ndarray:
    """``calculator``'s forces (N, 3) on ``reference``'s undisplaced supercell: what a model's forces on the
    displaced supercells of a cell that is not its own equilibrium (a DFT reference's) carry besides the
    displacements' effect, to be taken off before a fit (as ``without_residual`` does for the screen's own
    references)."""
    return predict_forces([undisplaced_supercell(reference)], calculator)[0]


def predict_forces(
    supercells: Sequence, calculator, progress: bool = False, label: str = "forces"
) -> np.ndarray:
    """Forces (n_supercells, n_atoms, 3) in eV/A from an ASE calculator."""
    forces = []
    for atoms in tqdm(supercells, desc=label, unit="cell", disable=not progress, leave=False):
        atoms = atoms.copy()
        atoms.calc = calculator
        forces.append(atoms.get_forces())
    return np.asarray(forces, dtype=float)
