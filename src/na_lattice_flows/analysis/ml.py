"""The screening accelerator (paper §3.3): predict log10 D from phonon descriptors (optionally with structural
ones), so that MD is spent on the structures most likely to conduct.

Two scikit-learn models, a ridge-regularised linear baseline and gradient-boosted trees, are scored by
cross-validation grouped by chemical system: polymorphs and ordered variants of one system have nearly equal
descriptors and D, and a random split that puts one in training and its twin in testing scores memory, not
prediction. Models are saved with joblib together with their features and scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from na_lattice_flows.analysis.dataset import PHONON_DESCRIPTORS, STRUCTURE_COLUMNS, usable
from na_lattice_flows.errors import InputError, MissingInputError

TARGETS = {"D_avg_A2_per_ps": "log10_D_avg_A2_per_ps", "D_max_A2_per_ps": "log10_D_max_A2_per_ps"}
MIN_STRUCTURES = 6
MIN_SYSTEMS = 3
MAX_FOLDS = 5


class NotEnoughData(InputError):
    """Too few structures (or chemical systems) with D to train or cross-validate a model."""


def feature_set(include_structure: bool) -> list[str]:
    """The descriptor columns a D model reads: the phonon descriptors, and the structural ones when
    asked."""
    return (
        [*PHONON_DESCRIPTORS, *STRUCTURE_COLUMNS] if include_structure else list(PHONON_DESCRIPTORS)
    )


def estimators(seed: int = 0) -> dict[str, Pipeline]:
    """The two model families, each with median imputation (a descriptor missing for a structure)."""
    return {
        "linear": make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            RidgeCV(alphas=np.logspace(-3, 3, 13)),
        ),
        "gradient_boosting": make_pipeline(
            SimpleImputer(strategy="median"),
            GradientBoostingRegressor(
                n_estimators=300, max_depth=2, learning_rate=0.05, subsample=0.8, random_state=seed
            ),
        ),
    }


def grouped_folds(
    groups: pd.Series | np.ndarray, n_splits: int = MAX_FOLDS
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of GroupKFold with at most ``n_splits`` folds; no group on both sides."""
    groups = np.asarray(groups)
    n_groups = len(set(groups))
    if n_groups < 2:
        raise NotEnoughData(
            f"cross-validation by chemical system needs >= 2 systems, got {n_groups}"
        )
    splitter = GroupKFold(n_splits=min(n_splits, n_groups))
    return list(splitter.split(np.zeros(len(groups)), groups=groups))


def importances(pipeline: Pipeline, features: list[str]) -> dict[str, float]:
    """Share of each feature, summing to 1: impurity decrease for trees, |standardised coefficient| for ridge."""
    model = pipeline[-1]
    raw = np.abs(model.coef_) if hasattr(model, "coef_") else model.feature_importances_
    total = raw.sum()
    return {
        name: float(value / total) if total > 0 else 0.0
        for name, value in zip(features, raw, strict=True)
    }


@dataclass
class ModelScore:
    """Out-of-fold R^2 and mean absolute error of log10 D (so 0.3 = a factor of 2), and feature shares."""

    name: str
    r2: float
    mae_log10: float
    feature_importances: dict[str, float]


@dataclass
class DiffusionModel:
    """Fitted models, what they were trained on and how well they cross-validated; ``best`` predicts."""

    target: str
    features: list[str]
    models: dict[str, Pipeline]
    scores: dict[str, ModelScore]
    best: str
    n_structures: int
    n_systems: int
    n_folds: int
    trained_on: list[str]
    out_of_fold: pd.DataFrame = field(repr=False)
    sklearn_version: str = sklearn.__version__

    def save(self, path: str | Path) -> Path:
        """Write the model (joblib) for ``na-flows predict``; its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, path)
        return path

    @staticmethod
    def load(path: str | Path) -> DiffusionModel:
        """A model written by ``save``; a missing file is named."""
        path = Path(path)
        if not path.is_file():
            raise MissingInputError(
                f"{path}: no such model file (train one with `na-flows report` or `ml.train_diffusion_models`)"
            )
        try:
            model = joblib.load(path)
        except Exception as error:  # a truncated or foreign file: pickle raises many kinds
            raise InputError(
                f"{path}: not a readable model file ({type(error).__name__}: {error})"
            ) from error
        if not isinstance(model, DiffusionModel):
            raise InputError(
                f"{path}: not a na_lattice_flows diffusion model ({type(model).__name__})"
            )
        return model

    def predict_log10_D(self, table: pd.DataFrame) -> np.ndarray:
        """log10 D (A^2/ps) of each row by the best estimator; the table must hold the model's
        features."""
        missing = [f for f in self.features if f not in table.columns]
        if missing:
            raise InputError(f"table lacks the model's features {missing}")
        return self.models[self.best].predict(
            table[self.features].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        )


def training_rows(table: pd.DataFrame, target: str, features: list[str]) -> pd.DataFrame:
    """Structures with a usable D (measured, not melted) and at least one of the features."""
    if target not in TARGETS:
        raise InputError(f"target {target!r}: choose {' or '.join(TARGETS)}")
    rows = usable(table)
    has_feature = rows[features].apply(pd.to_numeric, errors="coerce").notna().any(axis=1)
    return rows[has_feature & rows["chemical_system"].notna()].reset_index(drop=True)


def train_diffusion_models(
    table: pd.DataFrame,
    include_structure: bool = False,
    target: str = "D_avg_A2_per_ps",
    n_splits: int = MAX_FOLDS,
    seed: int = 0,
) -> DiffusionModel:
    """Cross-validate both model families by chemical system on ``table`` (``analysis.dataset`` output), then fit
    each on every row. Raises NotEnoughData, saying what is missing, below MIN_STRUCTURES or MIN_SYSTEMS."""
    features = feature_set(include_structure)
    rows = training_rows(table, target, features)
    n_systems = rows["chemical_system"].nunique()
    if len(rows) < MIN_STRUCTURES or n_systems < MIN_SYSTEMS:
        raise NotEnoughData(
            f"{len(rows)} structures from {n_systems} chemical systems have D (MD, not melted) and phonon descriptors; "
            f"a model needs >= {MIN_STRUCTURES} structures from >= {MIN_SYSTEMS} systems"
        )
    X = rows[features].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    y = rows[TARGETS[target]].to_numpy(float)
    folds = grouped_folds(rows["chemical_system"], n_splits)
    out_of_fold = pd.DataFrame(
        {
            "candidate_id": rows["candidate_id"],
            "chemical_system": rows["chemical_system"],
            "log10_D": y,
        }
    )
    for index, (_, test) in enumerate(folds):
        out_of_fold.loc[test, "fold"] = index
    models, scores = {}, {}
    for name, pipeline in estimators(seed).items():
        predicted = np.empty_like(y)
        for train, test in folds:
            predicted[test] = clone(pipeline).fit(X[train], y[train]).predict(X[test])
        out_of_fold[f"predicted_{name}"] = predicted
        models[name] = clone(pipeline).fit(X, y)
        scores[name] = ModelScore(
            name,
            float(r2_score(y, predicted)),
            float(mean_absolute_error(y, predicted)),
            importances(models[name], features),
        )
    best = max(scores, key=lambda name: scores[name].r2)
    return DiffusionModel(
        target=target,
        features=features,
        models=models,
        scores=scores,
        best=best,
        n_structures=len(rows),
        n_systems=n_systems,
        n_folds=len(folds),
        trained_on=rows["candidate_id"].tolist(),
        out_of_fold=out_of_fold,
    )


RANKING_COLUMNS = [
    "rank",
    "candidate_id",
    "formula",
    "predicted_log10_D",
    "predicted_D_A2_per_ps",
    "measured_D_A2_per_ps",
    "note",
]


def rank_candidates(model: DiffusionModel, table: pd.DataFrame) -> pd.DataFrame:
    """Candidates ordered by predicted D, highest first. Only dynamically stable structures with phonon
    descriptors are ranked (MD runs on no other); the rest follow without a rank, with the reason."""
    features = table.reindex(columns=model.features).apply(pd.to_numeric, errors="coerce")
    has_phonons = features[PHONON_DESCRIPTORS].notna().any(axis=1)
    stable = table["dynamically_stable"].map(lambda v: v is True or v == 1.0)
    rankable = has_phonons & stable
    ranked = table[rankable].copy()
    ranked["predicted_log10_D"] = model.predict_log10_D(ranked) if len(ranked) else []
    ranked = ranked.sort_values("predicted_log10_D", ascending=False)
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked["note"] = [
        None if cid not in model.trained_on else "in the training set"
        for cid in ranked["candidate_id"]
    ]
    left = table[~rankable].copy()
    left["note"] = np.where(
        has_phonons[~rankable],
        "not dynamically stable: no MD candidate",
        "no phonon descriptors yet",
    )
    result = pd.concat([ranked, left], ignore_index=True)
    result["predicted_D_A2_per_ps"] = 10.0 ** pd.to_numeric(
        result.get("predicted_log10_D"), errors="coerce"
    )
    result["measured_D_A2_per_ps"] = result.get(model.target)
    # an integer with gaps for the unranked (NaN would make it 1.0000 on screen)
    result["rank"] = result["rank"].astype("Int64")
    return result.reindex(columns=RANKING_COLUMNS)
