"""The restartable-MD driver every engine runs on (ASE Langevin and MTK NPT, torch-sim NVT and NPT batches, GPAW
AIMD through the Langevin engine): frames go to atomic per-checkpoint segment files, and a checkpoint (the step,
the run's identity and the integrator's own state) is saved atomically every N steps. A run killed at any
point resumes from its last checkpoint, drops the frames written after it and continues; with the same seed
the resumed run equals an uninterrupted one frame for frame. When it ends, each system's segments are gathered
into one HDF5 trajectory, written whole by rename, whose settings fingerprint says it is complete.

An engine supplies an ``Integrator`` (start, restore, state, step, frames); the loop, the buffers, the
checkpoint and the trajectories are here. Written here, not taken from atomate2's ForceFieldMDMaker or
torch-sim's ``integrate``, because neither can resume a killed run exactly (no checkpoint of momenta and
random-number state).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from na_lattice_flows.errors import InputError

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]


class RestartableMDSettings(BaseModel):
    """What every restartable run has: a temperature, a time step, an equilibration and a production stretch,
    a frame and a checkpoint interval, a seed. The engines' settings (``MDSettings``, ``NPTSettings``) add
    their own fields and defaults."""

    model_config = ConfigDict(extra="forbid")

    temperature_K: PositiveFloat
    timestep_fs: PositiveFloat
    n_equilibration_steps: Annotated[int, Field(ge=0)]
    n_production_steps: PositiveInt
    frame_interval_steps: PositiveInt = Field(description="MD steps between stored frames")
    checkpoint_interval_steps: PositiveInt
    seed: int = 0
    store_velocities: bool = True

    @property
    def n_steps(self) -> int:
        """Equilibration plus production steps."""
        return self.n_equilibration_steps + self.n_production_steps

    @property
    def n_frames(self) -> int:
        """Frames of the production, the first included."""
        return self.n_production_steps // self.frame_interval_steps + 1

    def physics(self) -> dict:
        """The fields a trajectory depends on (not how often it is checkpointed or whether velocities are kept)."""
        return self.model_dump(exclude={"checkpoint_interval_steps", "store_velocities"})


def short_hash(text: str) -> str:
    """A 16-character SHA-256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Integrator(Protocol):
    """One engine's side of a run of one or several systems advancing together."""

    def start(self) -> None:
        """Initial velocities (drawn, or given by the caller) for a run from step 0."""

    def restore(self, saved: Mapping[str, np.ndarray]) -> None:
        """The state of a checkpoint written from ``state()``."""

    def state(self) -> dict[str, np.ndarray]:
        """What the checkpoint must hold, beyond the step and the run's identity, to resume exactly."""

    def step(self, completed: int) -> None:
        """Advance to step ``completed``."""

    def frames(self) -> list[dict[str, np.ndarray]]:
        """One frame per system: ``positions`` (A), ``velocities`` (A/fs), optionally ``cells`` (A) and labels
        (``forces``, ``energies``)."""


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
            exc.errno,
            f"MD trajectory folder {folder} {state} at step {step} ({exc.strerror or exc}); rerun the job when "
            "the folder is back and writable: it resumes from its last checkpoint",
        ) from exc


LABELS = ("forces", "energies")


class FrameSegments:
    """Frames between two checkpoints, each segment one .npz renamed into place (a kill never leaves half a
    segment). Resuming deletes the segments written after the checkpoint, so no frame is lost or repeated."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def _segments(self) -> list[tuple[int, Path]]:
        return sorted(
            (int(path.stem.split("_")[1]), path) for path in self.folder.glob("frames_*.npz")
        )

    def drop_after(self, step: int) -> None:
        """Delete the segments written after ``step`` (and half-written ones)."""
        for end_step, path in self._segments():
            if end_step > step:
                path.unlink()
        for leftover in self.folder.glob("*.tmp.npz"):
            leftover.unlink()

    def write(self, end_step: int, frames: Mapping[str, list]) -> None:
        """One segment of ``frames`` (lists by name: ``step``, ``positions``, and ``velocities``, ``cells``
        (runs whose cell moves), ``forces``/``energies`` (runs that keep their calculator's results) when given)."""
        arrays = {
            "step": np.asarray(frames["step"], dtype=np.int64),
            "positions": np.asarray(frames["positions"], dtype=np.float32),
        }
        if "velocities" in frames:
            arrays["velocities"] = np.asarray(frames["velocities"], dtype=np.float32)
        if "cells" in frames:
            arrays["cells"] = np.asarray(frames["cells"], dtype=np.float64).reshape(-1, 3, 3)
        for name in LABELS:
            if name in frames:
                arrays[name] = np.asarray(frames[name], dtype=np.float64)
        temporary = self.folder / f"frames_{end_step:09d}.tmp.npz"
        with writing_into(self.folder.parent, end_step):
            np.savez(temporary, **arrays)
            os.replace(temporary, self.folder / f"frames_{end_step:09d}.npz")

    def collect(self) -> dict[str, np.ndarray]:
        """Every segment's frames joined (each file closed once read: a worker runs many MD jobs)."""
        loaded = []
        for _, path in self._segments():
            with np.load(path) as segment:
                if len(segment["step"]):
                    loaded.append({name: segment[name] for name in segment.files})
        names = [name for name in loaded[0] if all(name in segment for segment in loaded)]
        return {name: np.concatenate([segment[name] for segment in loaded]) for name in names}

    def remove(self) -> None:
        """Delete the segments and their folder."""
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


def segments_folder(trajectory_path: Path) -> Path:
    """The folder beside a trajectory where its frame segments wait."""
    return trajectory_path.with_name(trajectory_path.stem + ".frames")


def finish_trajectory(
    path: Path,
    symbols: list[str],
    cell: np.ndarray,
    settings: RestartableMDSettings,
    segments: FrameSegments,
    attrs: dict,
) -> None:
    """Gather the frame segments into the HDF5 trajectory (written whole, by rename) and drop the segments.
    Segments with per-frame cells replace ``cell``; ``attrs`` may override the settings' fingerprint."""
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
    labels = {name: frames[name] for name in LABELS if name in frames}
    with writing_into(path.parent, settings.n_steps):
        write_h5_trajectory(
            path,
            symbols,
            cells,
            header,
            frames["step"],
            frames["positions"],
            frames.get("velocities"),
            labels,
        )
    segments.remove()


def is_trajectory_complete(trajectory_path: Path, fingerprint: str) -> bool:
    """The trajectory file is written whole, at the end, by rename: its presence with our settings means done."""
    import h5py

    if not trajectory_path.is_file():
        return False
    with h5py.File(trajectory_path, "r") as handle:
        return handle.attrs.get("settings_fingerprint") == fingerprint


class Run(BaseModel):
    """One system of a restartable run: where its trajectory goes and what its header says."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    trajectory_path: Path
    settings: RestartableMDSettings
    fingerprint: str
    symbols: list[str]
    cell: np.ndarray
    attrs: dict = {}


def run_restartable(
    make_integrator: Callable[[], Integrator],
    runs: list[Run],
    checkpoint_path: Path,
    identity: str,
    mismatch: str,
    progress: bool = True,
    description: str = "MD steps",
) -> list[Path]:
    """Run (or resume, or return as they are when complete) the trajectories of ``runs``, which advance together
    (they share every setting that sets the schedule); ``make_integrator`` is called only when there is work. ``identity``: what the checkpoint must belong to (a
    checkpoint of another run is refused, ``mismatch`` saying what differs)."""
    paths = [run.trajectory_path for run in runs]
    common = runs[0].settings
    n_atoms = sum(len(run.symbols) for run in runs)
    if all(is_trajectory_complete(run.trajectory_path, run.fingerprint) for run in runs):
        # a rerun of a finished job, or a kill after the last trajectory
        _remove_leftovers(paths, checkpoint_path)
        return paths
    segments = [FrameSegments(segments_folder(path)) for path in paths]
    integrator = make_integrator()
    step = 0
    if checkpoint_path.is_file():
        with np.load(checkpoint_path) as saved:
            if str(saved["fingerprint"]) != identity or len(saved["positions"]) != n_atoms:
                raise InputError(
                    f"{checkpoint_path} belongs to a different {mismatch}; remove it to start afresh"
                )
            integrator.restore(saved)
            step = int(saved["step"])
    else:
        integrator.start()
    for segment in segments:
        segment.drop_after(step)
    resumed_from_step = step
    buffers: list[dict[str, list]] = [{} for _ in runs]

    def record_if_frame(completed: int) -> None:
        production = completed - common.n_equilibration_steps
        if production < 0 or production % common.frame_interval_steps:
            return
        for buffer, frame in zip(buffers, integrator.frames(), strict=True):
            buffer.setdefault("step", []).append(completed)
            for name, value in frame.items():
                if name != "velocities" or common.store_velocities:
                    buffer.setdefault(name, []).append(value)

    def checkpoint(completed: int) -> None:
        for segment, buffer in zip(segments, buffers, strict=True):
            segment.write(completed, buffer if buffer else {"step": [], "positions": []})
            buffer.clear()
        temporary = checkpoint_path.with_suffix(".tmp.npz")
        with writing_into(checkpoint_path.parent, completed):
            np.savez(temporary, step=completed, fingerprint=identity, **integrator.state())
            # atomic: a kill leaves the previous checkpoint or this one
            os.replace(temporary, checkpoint_path)

    if step == 0:
        record_if_frame(0)
    with tqdm(
        total=common.n_steps, initial=step, disable=not progress, desc=description, unit="step"
    ) as bar:
        for completed in range(step + 1, common.n_steps + 1):
            integrator.step(completed)
            record_if_frame(completed)
            if completed % common.checkpoint_interval_steps == 0 or completed == common.n_steps:
                checkpoint(completed)
            bar.update()
    for run, segment in zip(runs, segments, strict=True):
        # written before a kill at the very end
        if is_trajectory_complete(run.trajectory_path, run.fingerprint):
            segment.remove()
            continue
        attrs = {
            "resumed_from_step": resumed_from_step,
            **run.attrs,
            "settings_fingerprint": run.fingerprint,
        }
        finish_trajectory(run.trajectory_path, run.symbols, run.cell, run.settings, segment, attrs)
    checkpoint_path.unlink(missing_ok=True)
    return paths


def _remove_leftovers(paths: list[Path], checkpoint_path: Path) -> None:
    for path in paths:
        if segments_folder(path).is_dir():
            FrameSegments(segments_folder(path)).remove()
    checkpoint_path.unlink(missing_ok=True)
