"""MLP-vs-DFT force benchmark (paper §2.2): forces on the reference's displaced supercells, second-order force
constants fitted the same way from both, and agreement on dynamic stability; then a ranking of the models.

Conventions:
- Force errors run over every Cartesian component of every atom of every supercell (RMSE and MAE, meV/A);
  pooled over structures by summing squared/absolute errors, so each force component weighs the same.
- Force constants (``phonons.force_constants.fit_force_constants``): phonopy's finite-displacement fit for
  one-displacement-per-supercell data (phononDB), symfc for random-displacement data; then phonopy's
  symmetrisation (acoustic sum rule). The reference
  structure is the DFT equilibrium, where an MLP still feels residual forces; those forces on the undisplaced
  supercell are subtracted from the MLP's before its fit, so the comparison measures curvature, not the
  offset between the two equilibria. IFC2 RMSE runs over all elements of the (compact) force-constant array.
- Third order, where the reference has random displacements and at least 2400 force components (10 supercells
  of 80 atoms): symfc fits orders 2 and 3 together to the MLP's and to the DFT forces; IFC3 RMSE over all elements of the compact third-order array (eV/A^3).
- Dynamic stability: ``phonons.stability.stability_screen`` on both (imaginary modes classified as soft modes
  or acoustic artifacts near Gamma, the rotational sum rules enforced where acoustic modes dip near Gamma).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from na_lattice_flows.models import model_provenance
from na_lattice_flows.phonons.force_constants import fit_force_constants, fit_third_order
from na_lattice_flows.phonons.references import (
    DisplacementReference,
    displaced_supercells,
    predict_forces,
    residual_forces,
)
from na_lattice_flows.phonons.stability import StabilityVerdict, stability_screen

# a third-order fit needs data: at least 10 supercells of 80 atoms
MIN_IFC3_FORCE_COMPONENTS = 3 * 80 * 10


def force_errors(reference: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """(RMSE, MAE) over all components, in the units of the inputs."""
    reference, predicted = np.asarray(reference, float), np.asarray(predicted, float)
    if reference.shape != predicted.shape:
        raise ValueError(
            f"force arrays differ in shape: reference {reference.shape}, predicted {predicted.shape}"
        )
    difference = predicted - reference
    return float(np.sqrt(np.mean(difference**2))), float(np.mean(np.abs(difference)))


def fc_rmse(fc_a: np.ndarray, fc_b: np.ndarray) -> float:
    """RMS difference of two force-constant arrays of one layout (any order)."""
    if fc_a.shape != fc_b.shape:
        raise ValueError(f"force-constant arrays differ in shape: {fc_a.shape} vs {fc_b.shape}")
    return float(np.sqrt(np.mean((fc_a - fc_b) ** 2)))


class ModelEvaluation(BaseModel):
    """One model on one reference structure."""

    structure: str
    formula: str
    model: str
    model_provenance: dict | None = Field(
        None,
        description="Training provenance of a model trained here (models.model_provenance); None: pretrained",
    )
    n_supercells: int
    n_atoms_supercell: int
    n_force_components: int
    force_rmse_meV_per_A: float
    force_mae_meV_per_A: float
    force_sq_error_sum: float = Field(
        description="Sum of squared component errors, (eV/A)^2, for pooling"
    )
    force_abs_error_sum: float = Field(
        description="Sum of absolute component errors, eV/A, for pooling"
    )
    ifc2_rmse_eV_per_A2: float
    n_ifc2_elements: int
    ifc3_rmse_eV_per_A3: float | None = Field(
        None, description="Where the reference allows a third-order fit"
    )
    n_ifc3_elements: int = 0
    dft_stability: StabilityVerdict
    mlp_stability: StabilityVerdict
    seconds: float = Field(
        description="Wall time of the MLP force evaluations on the displaced supercells"
    )
    seconds_per_supercell: float

    @property
    def stability_agrees(self) -> bool:
        """Whether the model and DFT give the same stability verdict."""
        return self.dft_stability.dynamically_stable == self.mlp_stability.dynamically_stable


def evaluate_model(
    reference: DisplacementReference,
    model: str,
    calculator,
    dft_force_constants: Phonopy | None = None,
    dft_stability: StabilityVerdict | None = None,
    progress: bool = False,
) -> tuple[ModelEvaluation, np.ndarray, np.ndarray]:
    """Benchmark ``calculator`` on ``reference``; returns the evaluation, the MLP forces and MLP force constants.
    Pass the DFT force constants/stability when evaluating several models on one reference (computed once)."""
    start = time.perf_counter()
    supercells = displaced_supercells(reference)
    mlp_forces = predict_forces(
        supercells, calculator, progress=progress, label=f"{model} {reference.name}"
    )
    elapsed = time.perf_counter() - start
    dft_forces = reference.forces
    rmse, mae = force_errors(dft_forces, mlp_forces)

    residual = residual_forces(reference, calculator)
    mlp_ph = fit_force_constants(reference, mlp_forces - residual)
    dft_ph = dft_force_constants or fit_force_constants(reference)
    dft_verdict = dft_stability or stability_screen(dft_ph)[0]
    difference = mlp_forces - dft_forces
    ifc3_rmse, n_ifc3 = None, 0
    if reference.is_random_displacement and difference.size >= MIN_IFC3_FORCE_COMPONENTS:
        mlp_fc3 = fit_third_order(reference, mlp_forces - residual)
        ifc3_rmse, n_ifc3 = fc_rmse(mlp_fc3, fit_third_order(reference)), int(mlp_fc3.size)
    evaluation = ModelEvaluation(
        structure=reference.name,
        formula=reference.unitcell.composition.reduced_formula,
        model=model,
        model_provenance=model_provenance(model),
        n_supercells=len(supercells),
        n_atoms_supercell=len(supercells[0]),
        n_force_components=int(difference.size),
        force_rmse_meV_per_A=1e3 * rmse,
        force_mae_meV_per_A=1e3 * mae,
        force_sq_error_sum=float(np.sum(difference**2)),
        force_abs_error_sum=float(np.sum(np.abs(difference))),
        ifc2_rmse_eV_per_A2=fc_rmse(mlp_ph.force_constants, dft_ph.force_constants),
        n_ifc2_elements=int(mlp_ph.force_constants.size),
        ifc3_rmse_eV_per_A3=ifc3_rmse,
        n_ifc3_elements=n_ifc3,
        dft_stability=dft_verdict,
        mlp_stability=stability_screen(mlp_ph)[0],
        seconds=elapsed,
        seconds_per_supercell=elapsed / len(supercells),
    )
    return evaluation, mlp_forces, mlp_ph.force_constants


class ModelMetrics(BaseModel):
    """One model's errors against DFT over a set of references, and its stability agreement."""

    force_rmse_meV_per_A: float
    force_mae_meV_per_A: float
    ifc2_rmse_eV_per_A2: float
    ifc3_rmse_eV_per_A3: float | None = Field(
        None, description="Over the references with a third-order fit"
    )
    stability_agreement: float = Field(
        description="Fraction of structures where MLP and DFT agree on stability"
    )
    agreement_dft_stable: float | None = Field(
        None, description="Fraction of the DFT-stable structures the MLP calls stable"
    )
    agreement_dft_unstable: float | None = Field(
        None, description="Fraction of the DFT-unstable structures the MLP calls unstable"
    )
    balanced_accuracy: float = Field(
        description="Mean of the two agreements (the one there is, when a set has one class): "
        "a model that calls everything stable scores 0.5, however many stable structures"
    )
    n_dft_stable: int = 0
    n_dft_unstable: int = 0
    n_structures: int
    n_force_components: int
    seconds_per_structure: float


class BenchmarkSummary(BaseModel):
    """The ranking (best first) and the chosen model, with the evidence per model and per structure."""

    models: dict[str, ModelMetrics]
    ranking: list[str] = Field(
        description="Best verdicts first (balanced accuracy), then lowest force RMSE"
    )
    chosen_model: str = Field(
        description="choose_model: the fastest of those within VERDICT_TIE of the best verdicts"
    )
    per_structure: list[ModelEvaluation]


def benchmark_references(
    references: Sequence[str], models: Sequence[str], progress: bool = True
) -> tuple[BenchmarkSummary | None, list[dict]]:
    """Every model on every reference path; a reference or model that fails is reported and the rest go on.
    Returns the summary (None when nothing succeeded) and the failures."""
    from na_lattice_flows.models import get_calculator
    from na_lattice_flows.phonons.references import load_reference

    evaluations: list[ModelEvaluation] = []
    failures: list[dict] = []
    for path in tqdm(references, desc="references", unit="structure", disable=not progress):
        try:
            reference = load_reference(path)
            dft_ph = fit_force_constants(reference)
            dft_verdict = stability_screen(dft_ph)[0]
        except Exception as exc:  # noqa: BLE001 - one bad reference never stops the others
            failures.append(
                {"reference": str(path), "model": None, "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        for model in models:
            try:
                evaluation, _, _ = evaluate_model(
                    reference, model, get_calculator(model), dft_ph, dft_verdict
                )
                evaluations.append(evaluation)
            except Exception as exc:  # noqa: BLE001
                failures.append(
                    {
                        "reference": str(path),
                        "model": model,
                        "error": f"{type(exc).__name__}: {exc}",
                    }
                )
    return (summarize(evaluations) if evaluations else None), failures


def summary_json(summary: BenchmarkSummary | None, failures: list[dict]) -> dict:
    """The interface's JSON: per-model metrics, the ranking and chosen model, per-structure rows, failures."""
    per_structure = (
        []
        if summary is None
        else [
            {
                **e.model_dump(
                    exclude={
                        "force_sq_error_sum",
                        "force_abs_error_sum",
                        "dft_stability",
                        "mlp_stability",
                    }
                ),
                "dft_stable": e.dft_stability.dynamically_stable,
                "mlp_stable": e.mlp_stability.dynamically_stable,
                "dft_min_frequency_thz": e.dft_stability.min_frequency_thz,
                "mlp_min_frequency_thz": e.mlp_stability.min_frequency_thz,
            }
            for e in summary.per_structure
        ]
    )
    return {
        "models": {} if summary is None else {k: v.model_dump() for k, v in summary.models.items()},
        "ranking": [] if summary is None else summary.ranking,
        "chosen_model": None if summary is None else summary.chosen_model,
        "per_structure": per_structure,
        "failures": failures,
    }


def summarize(evaluations: Sequence[ModelEvaluation]) -> BenchmarkSummary:
    """Pool the per-structure evaluations into per-model metrics and rank the models."""
    if not evaluations:
        raise ValueError("no evaluations to summarise")
    models: dict[str, ModelMetrics] = {}
    for model in dict.fromkeys(e.model for e in evaluations):
        own = [e for e in evaluations if e.model == model]
        n_components = sum(e.n_force_components for e in own)
        n_ifc = sum(e.n_ifc2_elements for e in own)
        third = [e for e in own if e.ifc3_rmse_eV_per_A3 is not None]
        n_ifc3 = sum(e.n_ifc3_elements for e in third)
        models[model] = ModelMetrics(
            force_rmse_meV_per_A=1e3
            * float(np.sqrt(sum(e.force_sq_error_sum for e in own) / n_components)),
            force_mae_meV_per_A=1e3 * sum(e.force_abs_error_sum for e in own) / n_components,
            ifc2_rmse_eV_per_A2=float(
                np.sqrt(sum(e.ifc2_rmse_eV_per_A2**2 * e.n_ifc2_elements for e in own) / n_ifc)
            ),
            ifc3_rmse_eV_per_A3=float(
                np.sqrt(sum(e.ifc3_rmse_eV_per_A3**2 * e.n_ifc3_elements for e in third) / n_ifc3)
            )
            if third
            else None,
            stability_agreement=float(np.mean([e.stability_agrees for e in own])),
            **verdict_metrics(own),
            n_structures=len(own),
            n_force_components=n_components,
            seconds_per_structure=float(np.mean([e.seconds for e in own])),
        )
    ranking = sorted(
        models, key=lambda m: (-models[m].balanced_accuracy, models[m].force_rmse_meV_per_A)
    )
    return BenchmarkSummary(
        models=models,
        ranking=ranking,
        chosen_model=choose_model(models),
        per_structure=list(evaluations),
    )


def verdict_metrics(evaluations: Sequence[ModelEvaluation]) -> dict:
    """Agreement with DFT on the DFT-stable and on the DFT-unstable structures apart, and their mean (balanced
    accuracy): the overall agreement rewards a model that calls everything stable when most structures are."""
    stable = [e.stability_agrees for e in evaluations if e.dft_stability.dynamically_stable]
    unstable = [e.stability_agrees for e in evaluations if not e.dft_stability.dynamically_stable]
    per_class = [float(np.mean(c)) if c else None for c in (stable, unstable)]
    present = [a for a in per_class if a is not None]
    return {
        "agreement_dft_stable": per_class[0],
        "agreement_dft_unstable": per_class[1],
        "balanced_accuracy": float(np.mean(present)),
        "n_dft_stable": len(stable),
        "n_dft_unstable": len(unstable),
    }


VERDICT_TIE = 0.02  # balanced accuracies this close are a tie, which speed breaks


def choose_model(models: dict[str, ModelMetrics], tie: float = VERDICT_TIE) -> str:
    """The model that wins on verdicts (balanced accuracy); among those within ``tie`` of the best, the fastest."""
    best = max(m.balanced_accuracy for m in models.values())
    contenders = [name for name, m in models.items() if m.balanced_accuracy >= best - tie]
    return min(contenders, key=lambda name: models[name].seconds_per_structure)


def summarize_complete(
    evaluations: Sequence[ModelEvaluation],
) -> tuple[BenchmarkSummary, dict[str, int]]:
    """Summary of the models that finished every structure any model finished (a record being filled, model by
    model), on those structures; the others are left out with their counts, so a model is never judged on a
    different set than its rivals."""
    covered = {
        model: {e.structure for e in evaluations if e.model == model}
        for model in dict.fromkeys(e.model for e in evaluations)
    }
    most = max(len(structures) for structures in covered.values())
    complete = [model for model, structures in covered.items() if len(structures) == most]
    common = set.intersection(*(covered[model] for model in complete))
    summary = summarize([e for e in evaluations if e.model in complete and e.structure in common])
    return summary, {
        model: len(structures) for model, structures in covered.items() if model not in complete
    }
