"""MLP against DFT on trajectory frames (the screening study's re-test of its top models on 200 frames of each
AIMD run): frames drawn at random (seeded) from any trajectory that carries DFT forces, the model's forces (and
energy and stress where the reference has them) on the same atoms, and the errors.

Conventions:
- Force errors run over every Cartesian component of every atom of every sampled frame, pooled over files by
  summing squared/absolute errors (each component weighs the same); per element over that element's atoms.
- Energies per atom, meV/atom. A DFT code and an MLP trained on another code's data differ by a constant per
  atom (pseudopotentials, reference energies), so beside the plain error the error after removing the mean
  offset of each file is given (``energy_rmse_offset_removed_meV_per_atom``): the part that matters for forces,
  phonons and MD. Frames without an energy are left out of the energy metrics; with none, they are None.
- Stress in GPa over the six Voigt components (ASE's sign convention: positive = tensile), where present.

Sources: ``benchmark.labelled_frames`` (our GPAW AIMD .h5, VASP vasprun.xml/OUTCAR/XDATCAR, extended XYZ, .traj).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import units
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from na_lattice_flows.benchmark.labelled_frames import (
    LabelledFrame,
    read_run_frames,
    sample_frame_indices,
    source_label,
)

DEFAULT_N_FRAMES = 200  # the screening study's re-test: 200 frames per AIMD run
MAX_PARITY_POINTS = (
    20_000  # force components per model kept for parity plots (seeded subsample; data store)
)


@dataclass
class Predictions:
    """The model's forces on each frame, and its energies/stresses on the frames whose reference has them."""

    forces: list[np.ndarray]
    energies_eV: list[float | None]
    stresses_eV_per_A3: list[np.ndarray | None]
    seconds: float


def predict_frames(
    frames: Sequence[LabelledFrame], calculator, progress: bool = False, label: str = "frames"
) -> Predictions:
    """One single point of ``calculator`` per frame (energy and stress only where the reference has them)."""
    forces, energies, stresses = [], [], []
    start = time.perf_counter()
    for frame in tqdm(frames, desc=label, unit="frame", disable=not progress):
        atoms = frame.atoms.copy()
        atoms.calc = calculator
        forces.append(np.asarray(atoms.get_forces(), dtype=float))
        energies.append(
            float(atoms.get_potential_energy()) if frame.energy_eV is not None else None
        )
        stresses.append(
            np.asarray(atoms.get_stress(voigt=True), float)
            if frame.stress_eV_per_A3 is not None
            else None
        )
    return Predictions(forces, energies, stresses, time.perf_counter() - start)


class ErrorSums(BaseModel):
    """Sums that pool over files: squared and absolute errors and their counts."""

    sum_sq: float = 0.0
    sum_abs: float = 0.0
    count: int = 0

    def add(self, difference: np.ndarray) -> ErrorSums:
        """These sums with the entries of ``difference`` added."""
        difference = np.asarray(difference, float).ravel()
        return ErrorSums(
            sum_sq=self.sum_sq + float(difference @ difference),
            sum_abs=self.sum_abs + float(np.abs(difference).sum()),
            count=self.count + difference.size,
        )

    def __add__(self, other: ErrorSums) -> ErrorSums:
        return ErrorSums(
            sum_sq=self.sum_sq + other.sum_sq,
            sum_abs=self.sum_abs + other.sum_abs,
            count=self.count + other.count,
        )

    def rmse(self, scale: float = 1.0) -> float | None:
        """Root-mean-square error of the entries so far, times ``scale`` (None when empty)."""
        return None if self.count == 0 else scale * float(np.sqrt(self.sum_sq / self.count))

    def mae(self, scale: float = 1.0) -> float | None:
        """Mean absolute error of the entries so far, times ``scale`` (None when empty)."""
        return None if self.count == 0 else scale * self.sum_abs / self.count


class FileEvaluation(BaseModel):
    """One model on the sampled frames of one file."""

    source: str
    model: str
    formula: str
    frame_indices: list[int]
    n_frames_available: int
    force_rmse_meV_per_A: float
    force_mae_meV_per_A: float
    energy_offset_meV_per_atom: float | None = Field(
        None, description="Mean (model - reference) energy per atom"
    )
    forces: ErrorSums
    forces_per_element: dict[str, ErrorSums]
    energy: ErrorSums = Field(
        default_factory=ErrorSums, description="Per-atom energy errors, eV/atom"
    )
    energy_offset_removed: ErrorSums = Field(default_factory=ErrorSums)
    stress: ErrorSums = Field(default_factory=ErrorSums, description="Voigt stress errors, eV/A^3")
    seconds: float


def evaluate_file(
    source: str,
    frames: Sequence[LabelledFrame],
    indices: np.ndarray,
    n_available: int,
    model: str,
    predictions: Predictions,
) -> FileEvaluation:
    """The error sums of ``predictions`` on ``frames`` (the frames at ``indices`` of the file's ``n_available``)."""
    forces, per_element = ErrorSums(), {}
    energy_errors, stress = [], ErrorSums()
    for frame, predicted_forces, energy, predicted_stress in zip(
        frames,
        predictions.forces,
        predictions.energies_eV,
        predictions.stresses_eV_per_A3,
        strict=True,
    ):
        difference = predicted_forces - frame.forces
        forces = forces.add(difference)
        symbols = np.asarray(frame.atoms.get_chemical_symbols())
        for element in dict.fromkeys(symbols):
            per_element[element] = per_element.get(element, ErrorSums()).add(
                difference[symbols == element]
            )
        if energy is not None:
            energy_errors.append((energy - frame.energy_eV) / len(frame.atoms))
        if predicted_stress is not None:
            stress = stress.add(predicted_stress - frame.stress_eV_per_A3)
    energy_errors = np.asarray(energy_errors)
    offset = float(energy_errors.mean()) if energy_errors.size else None
    return FileEvaluation(
        source=source,
        model=model,
        formula=frames[0].atoms.get_chemical_formula(mode="metal", empirical=True),
        frame_indices=[int(i) for i in indices],
        n_frames_available=n_available,
        force_rmse_meV_per_A=forces.rmse(1e3),
        force_mae_meV_per_A=forces.mae(1e3),
        energy_offset_meV_per_atom=None if offset is None else 1e3 * offset,
        forces=forces,
        forces_per_element=per_element,
        energy=ErrorSums().add(energy_errors),
        energy_offset_removed=ErrorSums().add(energy_errors - (offset or 0.0)),
        stress=stress,
        seconds=predictions.seconds,
    )


class FrameMetrics(BaseModel):
    """One model over every file: the JSON layout of ``benchmark-forces`` (``models.<name>.force_rmse_meV_per_A``)
    with what frames add (per element, energy, stress)."""

    force_rmse_meV_per_A: float
    force_mae_meV_per_A: float
    force_rmse_per_element_meV_per_A: dict[str, float]
    force_mae_per_element_meV_per_A: dict[str, float]
    energy_rmse_meV_per_atom: float | None = None
    energy_mae_meV_per_atom: float | None = None
    energy_rmse_offset_removed_meV_per_atom: float | None = None
    stress_rmse_GPa: float | None = None
    stress_mae_GPa: float | None = None
    n_files: int
    n_frames: int
    n_force_components: int
    seconds_per_frame: float


GPA_PER_EV_PER_A3 = 1.0 / units.GPa


def pool(evaluations: Sequence[FileEvaluation]) -> FrameMetrics:
    """Metrics of one model over its file evaluations (sums pooled, so every component weighs the same)."""

    def total(sums: Sequence[ErrorSums]) -> ErrorSums:
        return sum(sums, ErrorSums())

    forces = total([e.forces for e in evaluations])
    elements = sorted({element for e in evaluations for element in e.forces_per_element})
    per_element = {
        el: total([e.forces_per_element[el] for e in evaluations if el in e.forces_per_element])
        for el in elements
    }
    energy, shifted, stress = (
        total([getattr(e, name) for e in evaluations])
        for name in ("energy", "energy_offset_removed", "stress")
    )
    n_frames = sum(len(e.frame_indices) for e in evaluations)
    return FrameMetrics(
        force_rmse_meV_per_A=forces.rmse(1e3),
        force_mae_meV_per_A=forces.mae(1e3),
        force_rmse_per_element_meV_per_A={el: s.rmse(1e3) for el, s in per_element.items()},
        force_mae_per_element_meV_per_A={el: s.mae(1e3) for el, s in per_element.items()},
        energy_rmse_meV_per_atom=energy.rmse(1e3),
        energy_mae_meV_per_atom=energy.mae(1e3),
        energy_rmse_offset_removed_meV_per_atom=shifted.rmse(1e3),
        stress_rmse_GPa=stress.rmse(GPA_PER_EV_PER_A3),
        stress_mae_GPa=stress.mae(GPA_PER_EV_PER_A3),
        n_files=len(evaluations),
        n_frames=n_frames,
        n_force_components=forces.count,
        seconds_per_frame=sum(e.seconds for e in evaluations) / max(n_frames, 1),
    )


class FrameBenchmark(BaseModel):
    """Per-model metrics, the ranking (lowest force RMSE first), per-file evidence, parity data, failures."""

    models: dict[str, FrameMetrics]
    ranking: list[str]
    chosen_model: str | None
    per_file: list[FileEvaluation]
    parity: dict[str, dict[str, list[float]]] = Field(
        default_factory=dict,
        description=f"model -> reference/predicted force components (<= {MAX_PARITY_POINTS}), eV/A",
    )
    failures: list[dict] = Field(default_factory=list)


def benchmark_frames(
    sources: Sequence[str | Path | Sequence[str | Path]],
    models: Sequence[str],
    n_frames: int = DEFAULT_N_FRAMES,
    seed: int = 0,
    calculators: dict | None = None,
    progress: bool = True,
    frames_read: dict[str, list] | None = None,
) -> FrameBenchmark:
    """Every model on ``n_frames`` random frames of every source (a file, or a run's segment files); a source or
    model that fails is recorded in ``failures`` and the rest go on. ``calculators`` (model name -> ASE
    calculator) overrides the registry; ``frames_read`` (``source_label`` -> frames) holds sources already
    read (the command line reads them first, to refuse a bad file before any model loads)."""
    from na_lattice_flows.models import get_calculator

    evaluations: list[FileEvaluation] = []
    failures: list[dict] = []
    parity: dict[str, dict[str, list]] = {}
    for run in tqdm(sources, desc="trajectories", unit="run", disable=not progress):
        source = source_label(run)
        try:
            frames = (frames_read or {}).get(source) or read_run_frames(run)
            indices = sample_frame_indices(len(frames), n_frames, seed)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
            failures.append(
                {"source": source, "model": None, "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        sampled = [frames[i] for i in indices]
        for model in models:
            try:
                calculator = (calculators or {}).get(model) or get_calculator(model)
                predictions = predict_frames(
                    sampled, calculator, progress=progress, label=f"{model} {Path(source).name}"
                )
                evaluation = evaluate_file(
                    source, sampled, indices, len(frames), model, predictions
                )
            except Exception as exc:  # noqa: BLE001
                failures.append(
                    {"source": source, "model": model, "error": f"{type(exc).__name__}: {exc}"}
                )
                continue
            evaluations.append(evaluation)
            points = parity.setdefault(model, {"reference_eV_per_A": [], "predicted_eV_per_A": []})
            points["reference_eV_per_A"].append(np.concatenate([f.forces.ravel() for f in sampled]))
            points["predicted_eV_per_A"].append(
                np.concatenate([f.ravel() for f in predictions.forces])
            )
    metrics = {
        model: pool([e for e in evaluations if e.model == model])
        for model in dict.fromkeys(e.model for e in evaluations)
    }
    ranking = sorted(metrics, key=lambda m: metrics[m].force_rmse_meV_per_A)
    return FrameBenchmark(
        models=metrics,
        ranking=ranking,
        chosen_model=ranking[0] if ranking else None,
        per_file=evaluations,
        parity={model: _subsample(points, seed) for model, points in parity.items()},
        failures=failures,
    )


def _subsample(points: dict[str, list[np.ndarray]], seed: int) -> dict[str, list[float]]:
    reference, predicted = (
        np.concatenate(points[key]) for key in ("reference_eV_per_A", "predicted_eV_per_A")
    )
    keep = sample_frame_indices(len(reference), MAX_PARITY_POINTS, seed)
    return {
        "reference_eV_per_A": reference[keep].tolist(),
        "predicted_eV_per_A": predicted[keep].tolist(),
    }


def frame_benchmark_json(result: FrameBenchmark) -> dict:
    """The command's JSON: per-model metrics, ranking and chosen model, per-file rows, failures (no parity)."""
    per_file = [
        e.model_dump(
            exclude={"forces", "forces_per_element", "energy", "energy_offset_removed", "stress"}
        )
        | {
            "force_rmse_per_element_meV_per_A": {
                el: s.rmse(1e3) for el, s in e.forces_per_element.items()
            },
            "energy_rmse_meV_per_atom": e.energy.rmse(1e3),
            "stress_rmse_GPa": e.stress.rmse(GPA_PER_EV_PER_A3),
        }
        for e in result.per_file
    ]
    return {
        "models": {name: metrics.model_dump() for name, metrics in result.models.items()},
        "ranking": result.ranking,
        "chosen_model": result.chosen_model,
        "per_file": per_file,
        "failures": result.failures,
    }
