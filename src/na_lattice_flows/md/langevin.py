"""NVT Langevin MD with an MLP, restartable: frames go to an HDF5 trajectory and a checkpoint (positions,
velocities, thermostat random-number state, step, frames written) is saved atomically every N steps. A run
killed at any point resumes from its last checkpoint, drops the frames written after it and continues; with the
same seed the resumed run equals an uninterrupted one frame for frame.

Written here, not taken from atomate2's ForceFieldMDMaker, because that maker cannot resume a killed run: it
keeps the trajectory in memory and has no checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from typing import Literal

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from na_lattice_flows.settings import SETTINGS


class MDSettings(BaseModel):
    """One NVT Langevin run. Defaults are the paper's preset."""

    model_config = ConfigDict(extra="forbid")

    temperature_K: float = Field(SETTINGS.temperature_K, gt=0, allow_inf_nan=False)
    timestep_fs: float = Field(1.5, gt=0, allow_inf_nan=False)
    n_equilibration_steps: int = Field(10_000, ge=0)
    n_production_steps: int = Field(40_000, gt=0)
    frame_interval_steps: int = Field(4, gt=0, description="MD steps between stored frames")
    friction_per_fs: float = Field(0.01, gt=0, allow_inf_nan=False, description="Langevin friction (0.01/fs = 10/ps)")
    checkpoint_interval_steps: int = Field(1000, gt=0)
    seed: int = 0
    store_velocities: bool = True
    production_ensemble: Literal["langevin", "nve"] = Field(
        "langevin", description="'nve': velocity Verlet after the Langevin equilibration (unperturbed dynamics for D_sigma)"
    )

    @property
    def n_steps(self) -> int:
        return self.n_equilibration_steps + self.n_production_steps

    @property
    def n_frames(self) -> int:
        return self.n_production_steps // self.frame_interval_steps + 1

    def fingerprint(self) -> str:
        """What the trajectory depends on (not the checkpoint interval), to refuse resuming a different run."""
        physics = self.model_dump(exclude={"checkpoint_interval_steps", "store_velocities"})
        if self.production_ensemble == "langevin":
            del physics["production_ensemble"]  # added in 0.3: runs of earlier releases keep their fingerprint
        return hashlib.sha256(json.dumps(physics, sort_keys=True).encode()).hexdigest()[:16]


MD_PRESETS = {
    "paper": MDSettings(),
    # the demo: 0.6 ps, enough to exercise every step of the analysis (not to converge D), ~2 minutes per
    # structure with CHGNet on 2 CPU cores (4 steps/s on ~100 atoms)
    "short": MDSettings(n_equilibration_steps=100, n_production_steps=300, frame_interval_steps=4, checkpoint_interval_steps=100),
}


def md_settings(preset: str = "paper", **overrides) -> MDSettings:
    if preset not in MD_PRESETS:
        raise ValueError(f"unknown MD preset {preset!r}; choose from {', '.join(MD_PRESETS)}")
    # validated, so that a mistyped or out-of-range field fails here (at submission), not on the worker
    updates = {k: v for k, v in overrides.items() if v is not None}
    return MDSettings.model_validate({**MD_PRESETS[preset].model_dump(), **updates})


class TrajectoryFolderError(OSError):
    """The MD trajectory folder vanished or cannot be written mid-run: named, with where the run resumes."""


@contextmanager
def writing_into(folder: Path, step: int):
    """Turn an OS error of a checkpoint or frame write into a ``TrajectoryFolderError`` that says what happened
    to ``folder`` and that a rerun resumes from the last checkpoint once the folder is back."""
    try:
        yield
    except OSError as exc:
        state = "is gone" if not folder.is_dir() else "cannot be written"
        raise TrajectoryFolderError(
            exc.errno, f"MD trajectory folder {folder} {state} at step {step} ({exc.strerror or exc}); rerun the job when "
            "the folder is back and writable: it resumes from its last checkpoint"
        ) from exc  # fmt: skip


class FrameSegments:
    """Frames between two checkpoints, each segment one .npz renamed into place (a kill never leaves half a
    segment). Resuming deletes the segments written after the checkpoint, so no frame is lost or repeated."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def _segments(self) -> list[tuple[int, Path]]:
        return sorted((int(path.stem.split("_")[1]), path) for path in self.folder.glob("frames_*.npz"))

    def drop_after(self, step: int) -> None:
        for end_step, path in self._segments():
            if end_step > step:
                path.unlink()
        for leftover in self.folder.glob("*.tmp.npz"):
            leftover.unlink()

    def write(
        self, end_step: int, steps: list[int], positions: list[np.ndarray], velocities: list[np.ndarray] | None,
        cells: list[np.ndarray] | None = None, labels: dict[str, list] | None = None,
    ) -> None:
        """One segment; ``cells`` (float64, one per frame) for runs whose cell moves (NPT); ``labels`` (float64
        arrays by name: forces, energies) for runs that keep their calculator's results (AIMD)."""
        with writing_into(self.folder.parent, end_step):
            self._write(end_step, steps, positions, velocities, cells, labels)

    def _write(self, end_step, steps, positions, velocities, cells, labels) -> None:
        temporary = self.folder / f"frames_{end_step:09d}.tmp.npz"
        arrays = {"step": np.asarray(steps, dtype=np.int64), "positions": np.asarray(positions, dtype=np.float32)}
        if velocities is not None:
            arrays["velocities"] = np.asarray(velocities, dtype=np.float32)
        if cells is not None:
            arrays["cells"] = np.asarray(cells, dtype=np.float64).reshape(-1, 3, 3)
        for name, values in (labels or {}).items():
            arrays[name] = np.asarray(values, dtype=np.float64)
        np.savez(temporary, **arrays)
        os.replace(temporary, self.folder / f"frames_{end_step:09d}.npz")

    def collect(self) -> dict[str, np.ndarray]:
        loaded = [np.load(path) for _, path in self._segments()]
        loaded = [segment for segment in loaded if len(segment["step"])]
        names = [name for name in loaded[0].files if all(name in segment.files for segment in loaded)]
        return {name: np.concatenate([segment[name] for segment in loaded]) for name in names}

    def remove(self) -> None:
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


def _save_checkpoint(path: Path, atoms: Atoms, rng: np.random.Generator, step: int, fingerprint: str) -> None:
    temporary = path.with_suffix(".tmp.npz")
    with writing_into(path.parent, step):
        _write_checkpoint(temporary, path, atoms, rng, step, fingerprint)


def _write_checkpoint(temporary: Path, path: Path, atoms: Atoms, rng: np.random.Generator, step: int, fingerprint: str) -> None:
    np.savez(
        temporary,
        positions=atoms.get_positions(),
        momenta=atoms.get_momenta(),
        step=step,
        rng_state=json.dumps(rng.bit_generator.state),
        fingerprint=fingerprint,
    )
    os.replace(temporary, path)  # atomic: a kill leaves the previous checkpoint or this one, never half of one


def run_langevin_md(
    atoms: Atoms,
    calculator,
    settings: MDSettings,
    trajectory_path: str | Path,
    attrs: dict | None = None,
    progress: bool = True,
    record_labels: bool = False,
) -> Path:
    """Run (or resume) the MD of ``atoms`` and write its trajectory to ``trajectory_path`` (HDF5). While it runs,
    the checkpoint (``<name>.checkpoint.npz``) and frame segments (``<name>.frames/``) sit beside it; both go when
    the trajectory is complete; its ``resumed_from_step`` attribute says where the last process started (0: from
    the beginning). A finished trajectory with the same settings is returned as it is. ``record_labels``: store
    the calculator's forces and potential energy of every frame too (AIMD: DFT labels for benchmarks and
    training; no extra calculation, the step computed them)."""
    trajectory_path = Path(trajectory_path)
    checkpoint_path = trajectory_path.with_name(trajectory_path.stem + ".checkpoint.npz")
    fingerprint = settings.fingerprint()
    if is_trajectory_complete(trajectory_path, fingerprint):
        return trajectory_path  # a rerun of a finished job
    segments = FrameSegments(trajectory_path.with_name(trajectory_path.stem + ".frames"))
    atoms = atoms.copy()
    atoms.calc = calculator
    rng = np.random.default_rng(settings.seed)
    step = 0
    if checkpoint_path.is_file():
        saved = np.load(checkpoint_path)
        if str(saved["fingerprint"]) != fingerprint or len(saved["positions"]) != len(atoms):
            raise ValueError(f"{checkpoint_path} belongs to a different MD run (settings or structure changed); remove it to start afresh")
        atoms.set_positions(saved["positions"])
        atoms.set_momenta(saved["momenta"])
        rng.bit_generator.state = json.loads(str(saved["rng_state"]))
        step = int(saved["step"])
    else:
        MaxwellBoltzmannDistribution(atoms, temperature_K=settings.temperature_K, rng=rng)
        Stationary(atoms)
    segments.drop_after(step)
    resumed_from_step = step
    thermostat = Langevin(
        atoms,
        timestep=settings.timestep_fs * units.fs,
        temperature_K=settings.temperature_K,
        friction=settings.friction_per_fs / units.fs,
        fixcm=True,
        rng=rng,
    )
    verlet = VelocityVerlet(atoms, timestep=settings.timestep_fs * units.fs) if settings.production_ensemble == "nve" else None
    steps: list[int] = []
    positions: list[np.ndarray] = []
    velocities: list[np.ndarray] = []
    labels: dict[str, list] = {"forces": [], "energies": []}

    def record_if_frame(completed: int) -> None:
        production = completed - settings.n_equilibration_steps
        if production >= 0 and production % settings.frame_interval_steps == 0:
            steps.append(completed)
            positions.append(atoms.get_positions())
            velocities.append(atoms.get_velocities() * units.fs)  # A per ASE time unit -> A/fs
            if record_labels:
                labels["forces"].append(atoms.get_forces())
                labels["energies"].append(atoms.get_potential_energy())

    def checkpoint(completed: int) -> None:
        segments.write(completed, steps, positions, velocities if settings.store_velocities else None,
                       labels=labels if record_labels else None)  # fmt: skip
        steps.clear(), positions.clear(), velocities.clear(), labels["forces"].clear(), labels["energies"].clear()
        _save_checkpoint(checkpoint_path, atoms, rng, completed, fingerprint)

    if step == 0:
        record_if_frame(0)
    forces = None
    with tqdm(total=settings.n_steps, initial=step, disable=not progress, desc="MD steps", unit="step") as bar:
        for completed in range(step + 1, settings.n_steps + 1):
            dynamics = verlet if verlet is not None and completed > settings.n_equilibration_steps else thermostat
            forces = dynamics.step(forces)
            record_if_frame(completed)
            if completed % settings.checkpoint_interval_steps == 0 or completed == settings.n_steps:
                checkpoint(completed)
            bar.update()
    finish_trajectory(trajectory_path, atoms.get_chemical_symbols(), atoms.cell.array, settings, segments, {"engine": "ase", "resumed_from_step": resumed_from_step, **(attrs or {})})
    checkpoint_path.unlink(missing_ok=True)
    return trajectory_path


def finish_trajectory(path: Path, symbols: list[str], cell: np.ndarray, settings, segments: FrameSegments, attrs: dict) -> None:
    """Gather the frame segments into the HDF5 trajectory (written whole, by rename) and drop the segments.
    ``settings``: the run's MDSettings or NPTSettings; segments with per-frame cells replace ``cell``."""
    from na_lattice_flows.md.trajectory import write_h5_trajectory

    frames = segments.collect()
    header = {
        "timestep_fs": settings.timestep_fs,
        "frame_interval_steps": settings.frame_interval_steps,
        "temperature_K": settings.temperature_K,
        "n_equilibration_steps": settings.n_equilibration_steps,
        "settings_fingerprint": settings.fingerprint(),
        **attrs,
    }
    cells = frames.get("cells", cell)
    labels = {name: frames[name] for name in ("forces", "energies") if name in frames}
    with writing_into(path.parent, settings.n_steps):
        write_h5_trajectory(path, symbols, cells, header, frames["step"], frames["positions"], frames.get("velocities"), labels)
    segments.remove()


def is_trajectory_complete(trajectory_path: Path, fingerprint: str) -> bool:
    """The trajectory file is written whole, at the end, by rename: its presence with our settings means done."""
    import h5py

    if not trajectory_path.is_file():
        return False
    with h5py.File(trajectory_path, "r") as handle:
        return handle.attrs.get("settings_fingerprint") == fingerprint
