"""Frames that carry DFT labels (forces; energy and stress where known), read from the trajectories of any code:
our HDF5 trajectories written with ``record_labels`` (the GPAW AIMD), VASP vasprun.xml and OUTCAR (an XDATCAR is
read through the OUTCAR beside it: XDATCAR has no forces), extended XYZ and ASE .traj with a calculator's
forces; and the seeded draw of frames from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from na_lattice_flows.errors import InputError, MissingInputError


class FrameSourceError(InputError):
    """A trajectory that cannot be benchmarked: unreadable, or without DFT forces."""


@dataclass
class LabelledFrame:
    """Atoms with their reference (DFT) forces, and the energy (eV) and stress (eV/A^3, Voigt) where known."""

    atoms: Atoms
    forces: np.ndarray
    energy_eV: float | None = None
    stress_eV_per_A3: np.ndarray | None = None


def read_run_frames(source: str | Path | Sequence[str | Path]) -> list[LabelledFrame]:
    """The labelled frames of one run: a file, or the files of its chained segments in order (VASP AIMD)."""
    if isinstance(source, str | Path):
        return read_labelled_frames(source)
    return [frame for segment in source for frame in read_labelled_frames(segment)]


def source_label(source: str | Path | Sequence[str | Path]) -> str:
    """A readable name for a frame source: the file, or the first of its segments and how many
    follow."""
    if isinstance(source, str | Path):
        return str(source)
    return str(source[0]) + (f" (+{len(source) - 1} segments)" if len(source) > 1 else "")


def read_labelled_frames(path: str | Path) -> list[LabelledFrame]:
    """Every frame of ``path`` that carries forces; raises ``FrameSourceError`` naming the file when none do."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no such trajectory")
    name = path.name.lower()
    try:
        if name.endswith((".h5", ".hdf5")):
            frames = _read_h5_frames(path)
        else:
            frames = _read_ase_frames(_ase_source(path))
    except (OSError, KeyError, ValueError, IndexError) as exc:
        if isinstance(exc, FrameSourceError):
            raise
        raise FrameSourceError(
            f"{path}: could not be read as labelled frames ({type(exc).__name__}: {exc})"
        ) from exc
    if not frames:
        raise FrameSourceError(
            f"{path}: no frame carries forces; a benchmark needs DFT forces on each frame"
        )
    return frames


def _ase_source(path: Path) -> tuple[Path, str | None]:
    """The file ASE reads and its format: an XDATCAR is replaced by the OUTCAR beside it."""
    name = path.name.lower()
    if "xdatcar" in name:
        outcar = next(
            (p for p in (path.with_name("OUTCAR"), path.with_name("OUTCAR.gz")) if p.is_file()),
            None,
        )
        if outcar is None:
            raise FrameSourceError(
                f"{path}: an XDATCAR has no forces; put the run's OUTCAR beside it (or give vasprun.xml)"
            )
        return outcar, "vasp-out"
    if name.startswith("vasprun") and ".xml" in name:
        return path, "vasp-xml"
    if name.startswith("outcar"):
        return path, "vasp-out"
    if name.endswith((".xyz", ".extxyz")):
        return path, "extxyz"
    if name.endswith(".traj"):
        return path, "traj"
    raise FrameSourceError(
        f"{path}: unknown format for labelled frames; give .h5 (ours), vasprun.xml, OUTCAR, XDATCAR "
        "with its OUTCAR, extended XYZ or ASE .traj"
    )


def _read_ase_frames(source: tuple[Path, str | None]) -> list[LabelledFrame]:
    from ase.io import read

    path, fmt = source
    frames = []
    for atoms in read(path, index=":", format=fmt):
        results = atoms.calc.results if atoms.calc is not None else {}
        if "forces" not in results:
            continue
        stress = results.get("stress")
        frame_atoms = Atoms(
            atoms.get_chemical_symbols(),
            positions=atoms.get_positions(),
            cell=atoms.cell.array,
            pbc=True,
        )
        frames.append(
            LabelledFrame(
                atoms=frame_atoms,
                forces=np.asarray(results["forces"], dtype=float),
                energy_eV=float(results["energy"]) if "energy" in results else None,
                stress_eV_per_A3=None
                if stress is None
                else _voigt(np.asarray(stress, dtype=float)),
            )
        )
    return frames


def _voigt(stress: np.ndarray) -> np.ndarray:
    if stress.shape == (3, 3):
        return stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return stress


def _read_h5_frames(path: Path) -> list[LabelledFrame]:
    import h5py

    with h5py.File(path, "r") as handle:
        if "forces" not in handle:
            raise FrameSourceError(
                f"{path}: this trajectory carries no forces (our MLP MD does not store them; the GPAW AIMD does)"
            )
        species = [s.decode() if isinstance(s, bytes) else str(s) for s in handle.attrs["species"]]
        positions = np.asarray(handle["positions"], dtype=float)
        forces = np.asarray(handle["forces"], dtype=float)
        energies = np.asarray(handle["energies"], dtype=float) if "energies" in handle else None
        cells = (
            np.asarray(handle["cells"])
            if "cells" in handle
            else np.broadcast_to(handle.attrs["cell"], (len(positions), 3, 3))
        )
    frames = []
    for index in range(len(positions)):
        atoms = Atoms(species, positions=positions[index], cell=cells[index], pbc=True)
        atoms.wrap()
        energy = None if energies is None else float(energies[index])
        frames.append(LabelledFrame(atoms=atoms, forces=forces[index], energy_eV=energy))
    return frames


def sample_frame_indices(n_available: int, n_frames: int, seed: int) -> np.ndarray:
    """``n_frames`` distinct indices out of ``n_available`` (all of them when fewer), sorted; the same for the
    same seed whatever the other files of the benchmark are."""
    if n_frames < 1:
        raise InputError(f"number of frames must be at least 1; got {n_frames}")
    if n_available <= n_frames:
        return np.arange(n_available)
    return np.sort(np.random.default_rng(seed).choice(n_available, size=n_frames, replace=False))
