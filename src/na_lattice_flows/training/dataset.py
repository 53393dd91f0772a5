"""Training data: DFT-labelled frames as extended XYZ (energy, forces, stress, provenance in each frame's info),
and splits that keep every configuration (or MD run) on one side only, so the test set is independent.

Provenance keys of a frame (``Atoms.info``): ``configuration`` (the structure the MD started from),
``run`` (configuration and temperature), ``temperature_K``, ``frame_index`` (in its trajectory), ``source``
(trajectory file) and ``labeller`` (e.g. ``gpaw PBE 500 eV``, ``vasp r2SCAN``, ``emt``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from tqdm.auto import tqdm

from na_lattice_flows.errors import InputError

SPLITS = ("train", "val", "test")
PROVENANCE_KEYS = ("configuration", "run", "temperature_K", "frame_index", "source", "labeller")


def label_frames(
    frames: Sequence[Atoms],
    calculator,
    labeller: str,
    with_stress: bool = True,
    progress: bool = True,
) -> list[Atoms]:
    """A single point of ``calculator`` on each frame: copies carrying energy, forces (and stress) as a
    SinglePointCalculator, their provenance kept and ``labeller`` added."""
    labelled = []
    for atoms in tqdm(frames, desc=f"labelling ({labeller})", unit="frame", disable=not progress):
        work = atoms.copy()
        work.calc = calculator
        results = {
            "energy": float(work.get_potential_energy()),
            "forces": np.asarray(work.get_forces(), float),
        }
        if with_stress:
            results["stress"] = np.asarray(work.get_stress(voigt=True), float)
        done = Atoms(
            atoms.get_chemical_symbols(),
            positions=atoms.get_positions(),
            cell=atoms.cell.array,
            pbc=True,
            info={**atoms.info, "labeller": labeller},
        )
        done.calc = SinglePointCalculator(done, **results)
        labelled.append(done)
    return labelled


def with_vasp_labels(
    atoms: Atoms,
    energy_eV: float,
    forces: np.ndarray,
    stress_kbar: np.ndarray | None,
    labeller: str,
) -> Atoms:
    """``atoms`` labelled by a VASP single point (atomate2's task document: energy eV, forces eV/A, stress kbar
    as VASP prints it, positive under compression); stress turned to ASE's convention (eV/A^3, negative under
    compression), the sign ASE's own VASP readers use."""
    from ase import units
    from ase.stress import full_3x3_to_voigt_6_stress

    results = {"energy": float(energy_eV), "forces": np.asarray(forces, float)}
    if stress_kbar is not None:
        results["stress"] = full_3x3_to_voigt_6_stress(
            -0.1 * units.GPa * np.asarray(stress_kbar, float)
        )
    done = Atoms(
        atoms.get_chemical_symbols(),
        positions=atoms.get_positions(),
        cell=atoms.cell.array,
        pbc=True,
        info={**atoms.info, "labeller": labeller},
    )
    if len(done) != len(results["forces"]):
        raise ValueError(
            f"frame {atoms.info.get('run', '?')}#{atoms.info.get('frame_index', '?')}: {len(done)} atoms but {len(results['forces'])} force rows from VASP"
        )
    done.calc = SinglePointCalculator(done, **results)
    return done


def to_extxyz(frames: Sequence[Atoms]) -> str:
    """Extended XYZ text of labelled frames (the data store keeps the dataset as this text)."""
    from ase.io import write

    buffer = io.StringIO()
    write(buffer, list(frames), format="extxyz")
    return buffer.getvalue()


def from_extxyz(text: str) -> list[Atoms]:
    """The frames of an extended-XYZ text."""
    from ase.io import read

    return read(io.StringIO(text), index=":", format="extxyz")


def split_by_group(
    groups: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, list[int]]:
    """Frame indices per split (train, val, test) such that all frames of a group (configuration or MD run) fall
    into one split. Groups are shuffled (seeded) and dealt out to the split furthest below its target share of
    frames; every split with a positive fraction gets at least one group."""
    fractions = np.asarray(fractions, dtype=float)
    if len(fractions) != 3 or np.any(fractions < 0) or not np.isclose(fractions.sum(), 1.0):
        raise InputError(
            f"split fractions must be three non-negative numbers (train, val, test) summing to 1; got {list(fractions)}"
        )
    names, counts = np.unique(np.asarray(groups, dtype=str), return_counts=True)
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if len(names) < len(wanted):
        raise InputError(
            f"{len(names)} group(s) ({', '.join(names)}) cannot fill {len(wanted)} independent splits: a test set "
            "independent of training needs frames from more configurations or MD runs"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    filled = np.zeros(3)
    assignment: dict[str, int] = {}
    for rank, index in enumerate(order):
        empty = [s for s in wanted if filled[s] == 0]
        remaining = len(order) - rank
        if empty and remaining <= len(empty):
            target = empty[0]  # the last groups go where a split would otherwise stay empty
        else:
            target = min(wanted, key=lambda s: filled[s] / counts.sum() - fractions[s])
        assignment[names[index]] = target
        filled[target] += counts[index]
    labels = np.asarray(groups, dtype=str)
    return {
        name: [int(i) for i in np.flatnonzero([assignment[g] == s for g in labels])]
        for s, name in enumerate(SPLITS)
    }


def write_splits(
    frames: Sequence[Atoms], splits: dict[str, list[int]], folder: str | Path
) -> dict[str, str]:
    """``<folder>/<split>.extxyz`` for each non-empty split; returns split -> absolute path."""
    from ase.io import write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, indices in splits.items():
        if indices:
            path = folder / f"{name}.extxyz"
            write(path, [frames[i] for i in indices], format="extxyz")
            paths[name] = str(path.resolve())
    return paths
