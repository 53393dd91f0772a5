"""MD trajectories: the frames the analysis reads, and their files. Our MD engines write one compact HDF5 file per run (float32 unwrapped positions and
velocities, gzip); the analysis reads that and the formats other codes write: ASE .traj, extended XYZ, VASP
XDATCAR and vasprun.xml, pymatgen Trajectory JSON."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from na_lattice_flows.errors import InputError, MissingInputError


@dataclass
class MDTrajectory:
    """Frames of one MD run: unwrapped Cartesian positions (A), the cell, and velocities (A/fs) when the engine
    wrote them. ``frame_interval_fs`` is the MD time step times the number of steps between stored frames."""

    species: list[str]
    positions: np.ndarray  # (n_frames, n_atoms, 3), unwrapped
    cell: np.ndarray  # (3, 3) or (n_frames, 3, 3) for NPT
    frame_interval_fs: float
    velocities: np.ndarray | None = None  # (n_frames, n_atoms, 3), A/fs
    temperature_K: float | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=float)
        self.cell = np.asarray(self.cell, dtype=float)
        if (
            self.positions.ndim != 3
            or self.positions.shape[1] != len(self.species)
            or self.positions.shape[2] != 3
        ):
            raise ValueError(
                f"positions must be (n_frames, {len(self.species)}, 3); got {self.positions.shape}"
            )
        if len(self.positions) < 3:
            raise InputError(
                f"a trajectory needs at least 3 frames for a diffusion fit; got {len(self.positions)}"
            )
        if not self.frame_interval_fs > 0:
            raise InputError(f"frame interval must be positive; got {self.frame_interval_fs} fs")
        if self.velocities is not None and np.shape(self.velocities) != self.positions.shape:
            raise ValueError(
                f"velocities {np.shape(self.velocities)} do not match positions {self.positions.shape}"
            )

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.positions)

    @property
    def times_ps(self) -> np.ndarray:
        """Time of each frame, ps."""
        return np.arange(self.n_frames) * self.frame_interval_fs / 1000.0

    @property
    def mean_cell(self) -> np.ndarray:
        """The cell (the mean over frames of an NPT run)."""
        return self.cell if self.cell.ndim == 2 else self.cell.mean(axis=0)

    def indices(self, element: str) -> np.ndarray:
        """Atom indices of ``element``; an absent element is named."""
        found = np.flatnonzero(np.asarray(self.species) == element)
        if not len(found):
            raise InputError(
                f"no {element} in this trajectory (elements: {', '.join(sorted(set(self.species)))})"
            )
        return found


def unwrap_fractional(fractional: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Cartesian unwrapped positions from wrapped fractional ones: between consecutive frames every atom takes the
    shortest image (valid when no atom moves half a cell between frames). Idempotent on unwrapped input."""
    fractional = np.asarray(fractional, dtype=float)
    cells = np.broadcast_to(np.asarray(cells, dtype=float), (len(fractional), 3, 3))
    steps = np.diff(fractional, axis=0)
    steps -= np.rint(steps)
    cartesian_steps = np.einsum("fij,fjk->fik", steps, cells[1:])
    start = fractional[0] @ cells[0]
    return np.concatenate([start[None], start[None] + np.cumsum(cartesian_steps, axis=0)])


TRAJECTORY_FORMATS = "ASE .traj, extended XYZ (.xyz/.extxyz), XDATCAR, vasprun.xml, pymatgen Trajectory .json, our .h5"


def write_h5_trajectory(
    path: Path,
    species: list[str],
    cell: np.ndarray,
    attrs: dict,
    steps: np.ndarray,
    positions: np.ndarray,
    velocities: np.ndarray | None,
    labels: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write a whole trajectory atomically (a temporary file renamed into place): float32 unwrapped positions
    (A) and velocities (A/fs), the MD step of each frame, species, cell and run settings as attributes. A cell
    per frame (n_frames, 3, 3: NPT) goes to the ``cells`` dataset and its mean to the ``cell`` attribute. ``labels``: the
    calculator's ``forces`` (eV/A) and ``energies`` (eV) per frame, float64, where the run kept them."""
    import h5py

    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with h5py.File(temporary, "w") as handle:
        handle.create_dataset(
            "positions",
            data=np.asarray(positions, dtype="f4"),
            compression="gzip",
            compression_opts=4,
        )
        if velocities is not None:
            handle.create_dataset(
                "velocities",
                data=np.asarray(velocities, dtype="f4"),
                compression="gzip",
                compression_opts=4,
            )
        handle.create_dataset("step", data=np.asarray(steps, dtype="i8"))
        for name, values in (labels or {}).items():
            handle.create_dataset(
                name, data=np.asarray(values, dtype="f8"), compression="gzip", compression_opts=4
            )
        handle.attrs["species"] = np.array(species, dtype="S3")
        cell = np.asarray(cell, dtype=float)
        if cell.ndim == 3:
            handle.create_dataset("cells", data=cell)
        handle.attrs["cell"] = cell if cell.ndim == 2 else cell.mean(axis=0)
        for key, value in attrs.items():
            handle.attrs[key] = value
    os.replace(temporary, path)
    return path


def read_trajectory(
    path: str | Path,
    timestep_fs: float | None = None,
    stride: int | None = None,
    temperature_K: float | None = None,
) -> MDTrajectory:
    """Any supported trajectory as an MDTrajectory with unwrapped positions. ``timestep_fs`` and ``stride`` (MD
    steps between stored frames) override what the file says; formats that do not record the time step (XDATCAR,
    XYZ, ASE .traj without it) need ``timestep_fs``."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no such trajectory")
    name = path.name.lower()
    if name.endswith((".h5", ".hdf5")):
        return _read_h5(path, timestep_fs, stride, temperature_K)
    if "xdatcar" in name:
        from pymatgen.io.vasp.outputs import Xdatcar

        return _from_structures(
            path, Xdatcar(str(path)).structures, timestep_fs, stride or 1, temperature_K
        )
    if name.startswith("vasprun") and ".xml" in name:
        from pymatgen.io.vasp.outputs import Vasprun

        run = Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_potcar_file=False)
        potim = run.parameters.get("POTIM")
        temperature = temperature_K or run.parameters.get("TEBEG")
        return _from_structures(
            path, run.structures, timestep_fs or potim, stride or 1, temperature
        )
    if name.endswith((".json", ".json.gz")):
        from monty.serialization import loadfn
        from pymatgen.core.trajectory import Trajectory

        loaded = loadfn(path)
        if not isinstance(loaded, Trajectory):
            raise InputError(
                f"{path}: not a pymatgen Trajectory JSON (found {type(loaded).__name__})"
            )
        return _from_pymatgen_trajectory(path, loaded, timestep_fs, stride, temperature_K)
    if name.endswith((".traj", ".xyz", ".extxyz")):
        return _read_ase(path, timestep_fs, stride, temperature_K)
    raise InputError(f"{path}: unknown trajectory format; supported: {TRAJECTORY_FORMATS}")


def read_trajectory_segments(paths: list[str | Path], **kwargs) -> MDTrajectory:
    """Consecutive segments of one run (chained AIMD jobs, restarted MD) as one trajectory: each segment is
    shifted by whole lattice vectors so that its first frame continues from the previous segment's last one
    (restarts write wrapped positions). ``kwargs`` go to ``read_trajectory``."""
    parts = [read_trajectory(path, **kwargs) for path in paths]
    first = parts[0]
    if any(
        p.species != first.species or not np.isclose(p.frame_interval_fs, first.frame_interval_fs)
        for p in parts
    ):
        raise InputError(
            f"segments {[str(p) for p in paths]} differ in atoms or frame interval; they are not one run"
        )
    positions = [first.positions]
    for part in parts[1:]:
        cell = part.cell if part.cell.ndim == 2 else part.cell[0]
        previous_end = positions[-1][-1]
        jump = np.linalg.solve(cell.T, (part.positions[0] - previous_end).T).T
        shift = -np.round(jump) @ cell  # undo whole-cell jumps only; the physical step stays
        positions.append(part.positions + shift)
    velocities = [p.velocities for p in parts]
    cells = [p.cell for p in parts]
    return MDTrajectory(
        species=first.species,
        positions=np.concatenate(positions),
        cell=first.cell
        if all(c.ndim == 2 and np.allclose(c, first.cell) for c in cells)
        else np.concatenate(
            [
                np.broadcast_to(c, (len(p.positions), 3, 3))
                for c, p in zip(cells, parts, strict=True)
            ]
        ),
        frame_interval_fs=first.frame_interval_fs,
        velocities=np.concatenate(velocities) if all(v is not None for v in velocities) else None,
        temperature_K=first.temperature_K,
        metadata={**first.metadata, "segments": [str(p) for p in paths]},
    )


def _frame_interval(path: Path, timestep_fs: float | None, stride: int | None) -> float:
    if timestep_fs is None:
        raise InputError(
            f"{path}: the file does not record the MD time step; give it (--timestep-fs)"
        )
    return float(timestep_fs) * int(stride or 1)


def _from_structures(path: Path, structures, timestep_fs, stride, temperature_K) -> MDTrajectory:
    structures = list(structures)
    if not structures:
        raise InputError(f"{path}: no frames")
    fractional = np.array([s.frac_coords for s in structures])
    cells = np.array([s.lattice.matrix for s in structures])
    cell = cells[0] if np.allclose(cells, cells[0]) else cells
    return MDTrajectory(
        species=[site.specie.symbol for site in structures[0]],
        positions=unwrap_fractional(fractional, cells),
        cell=cell,
        frame_interval_fs=_frame_interval(path, timestep_fs, stride),
        temperature_K=temperature_K,
        metadata={"source": str(path)},
    )


def _from_pymatgen_trajectory(
    path: Path, trajectory, timestep_fs, stride, temperature_K
) -> MDTrajectory:
    structures = [trajectory.get_structure(i) for i in range(len(trajectory))]
    return _from_structures(
        path, structures, timestep_fs or trajectory.time_step, stride, temperature_K
    )


def _read_ase(path: Path, timestep_fs, stride, temperature_K) -> MDTrajectory:
    from ase import units
    from ase.io import read

    frames = read(path, index=":")
    if not frames:
        raise InputError(f"{path}: no frames")
    fractional = np.array([atoms.get_scaled_positions(wrap=False) for atoms in frames])
    cells = np.array([atoms.cell.array for atoms in frames])
    has_velocities = all(atoms.has("momenta") for atoms in frames) and np.any(
        frames[-1].get_momenta()
    )
    info_timestep = frames[0].info.get("timestep_fs")
    return MDTrajectory(
        species=frames[0].get_chemical_symbols(),
        positions=unwrap_fractional(fractional, cells),
        cell=cells[0] if np.allclose(cells, cells[0]) else cells,
        frame_interval_fs=_frame_interval(path, timestep_fs or info_timestep, stride),
        velocities=np.array([atoms.get_velocities() * units.fs for atoms in frames])
        if has_velocities
        else None,
        temperature_K=temperature_K,
        metadata={"source": str(path)},
    )


def _read_h5(path: Path, timestep_fs, stride, temperature_K) -> MDTrajectory:
    import h5py

    with h5py.File(path, "r") as handle:
        attrs = dict(handle.attrs)
        positions = np.asarray(handle["positions"], dtype=float)
        velocities = (
            np.asarray(handle["velocities"], dtype=float) if "velocities" in handle else None
        )
        cell = np.asarray(handle["cells"]) if "cells" in handle else attrs["cell"]
    return MDTrajectory(
        species=[s.decode() if isinstance(s, bytes) else str(s) for s in attrs["species"]],
        positions=positions,
        cell=cell,
        frame_interval_fs=float(timestep_fs or attrs["timestep_fs"])
        * int(stride or attrs["frame_interval_steps"]),
        velocities=velocities,
        temperature_K=temperature_K or float(attrs.get("temperature_K", np.nan)),
        metadata={
            "source": str(path),
            **{k: _plain(v) for k, v in attrs.items() if k not in ("species", "cell")},
        },
    )


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
