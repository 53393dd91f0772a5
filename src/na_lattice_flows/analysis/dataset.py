"""The campaign dataset and its statistics (paper §3): one row per structure with every descriptor, the MD
diffusion coefficients and how they were computed; Pearson and Spearman correlations of each descriptor
with D. Pure functions of a table, so that they are tested on synthetic data with known correlations."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition
from scipy import stats

from na_lattice_flows.errors import InputError
from na_lattice_flows.workflow.columns import ELASTIC_COLUMNS, PHONON_COLUMNS, STRUCTURE_COLUMNS

D_COLUMNS = ("D_avg_A2_per_ps", "D_max_A2_per_ps")
# Below this a zero-intercept fit reads the vibrational plateau, not diffusion: a solid's ~0.1 A^2 plateau over
# the paper's 60 ps production run gives D ~ 0.1 / (6 x 60 ps) ~ 3e-4 A^2/ps. log10 D is taken of D clipped here.
D_RESOLUTION_A2_PER_PS = 1e-4
PHONON_DESCRIPTORS = [
    c for c in PHONON_COLUMNS if c not in ("dynamically_stable", "min_frequency_thz")
]
MD_DESCRIPTORS = ["na_vdos_center_thz", "na_vdos_center_over_acoustic_cutoff"]
DESCRIPTORS = [*PHONON_DESCRIPTORS, *STRUCTURE_COLUMNS, *ELASTIC_COLUMNS, *MD_DESCRIPTORS]


def chemical_system(formula: str) -> str:
    """'Na3PS4' -> 'Na-P-S': the grouping under which near-duplicates (polymorphs, ordered variants) fall."""
    return Composition(formula).chemical_system


def dataset(results: pd.DataFrame) -> pd.DataFrame:
    """The results table with the derived columns the statistics and figures use: chemical system, log10 D
    (clipped at ``D_RESOLUTION_A2_PER_PS``), the MD VDOS centre over the phonon acoustic cutoff, and
    ``usable_for_D``: D measured and the structure not melted (a melt's D says nothing about the solid)."""
    table = results.copy()
    table["chemical_system"] = [
        chemical_system(f) if isinstance(f, str) and f else None for f in table["formula"]
    ]
    for column in D_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce")
        table[f"log10_{column}"] = np.log10(values.clip(lower=D_RESOLUTION_A2_PER_PS))
    vdos = pd.to_numeric(table["na_vdos_center_thz"], errors="coerce")
    table["na_vdos_center_over_acoustic_cutoff"] = vdos / pd.to_numeric(
        table["acoustic_cutoff_thz"], errors="coerce"
    )
    table["usable_for_D"] = pd.to_numeric(
        table["D_avg_A2_per_ps"], errors="coerce"
    ).notna() & ~table["melted"].eq(True)
    return table


def usable(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``dataset`` table that the statistics, models and figures use (D measured, not melted)."""
    return table[table["usable_for_D"].astype(bool)]


def export_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the table as CSV or Parquet (by the suffix); object columns of mixed None/bool stay nullable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        table.convert_dtypes().to_parquet(path, index=False)
    else:
        raise InputError(f"{path}: export as .csv or .parquet")
    return path


CORRELATION_COLUMNS = [
    "descriptor",
    "target",
    "n",
    "pearson_r",
    "r_low",
    "r_high",
    "pearson_p",
    "spearman_rho",
    "rho_low",
    "rho_high",
    "spearman_p",
    "note",
]
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95


def _pearson(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson r along ``axis`` (vectorised over bootstrap resamples)."""
    dx = x - x.mean(axis=axis, keepdims=True)
    dy = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (dx * dy).sum(axis=axis) / np.sqrt((dx**2).sum(axis=axis) * (dy**2).sum(axis=axis))


def _spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman rho: Pearson r of the ranks (ties averaged), along ``axis``."""
    return _pearson(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis), axis=axis)


def bootstrap_interval(
    x: np.ndarray, y: np.ndarray, statistic, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """The 95 % bootstrap interval of a correlation: scipy's paired bootstrap (structures resampled with
    replacement, percentile), seeded so that a report is reproducible; NaN where the resamples cannot give one (a
    resample with a constant column; or no resamples asked)."""
    if n_resamples == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (x, y),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=CONFIDENCE,
            method="percentile",
            random_state=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    return float(low), float(high)


def correlations(
    table: pd.DataFrame,
    descriptors: list[str] | None = None,
    targets: tuple[str, ...] = D_COLUMNS,
    min_count: int = 3,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> pd.DataFrame:
    """Pearson r and Spearman rho (with two-sided p-values and 95 % bootstrap intervals ``r_low``-``r_high``,
    ``rho_low``-``rho_high``) of each descriptor against each target, over the rows where both are known;
    ``n`` is that count. Fewer than ``min_count`` pairs or a constant column give NaN with the reason in
    ``note``; ``n_resamples`` 0 leaves the intervals out."""
    descriptors = [d for d in (descriptors or DESCRIPTORS) if d in table.columns]
    rows = []
    for target in targets:
        y_all = pd.to_numeric(table[target], errors="coerce")
        for descriptor in descriptors:
            x_all = pd.to_numeric(table[descriptor], errors="coerce")
            known = x_all.notna() & y_all.notna()
            x, y = x_all[known].to_numpy(float), y_all[known].to_numpy(float)
            row = {"descriptor": descriptor, "target": target, "n": int(known.sum()), "note": None}
            if row["n"] < min_count:
                row["note"] = f"{row['n']} structures with both values (need {min_count})"
            elif np.ptp(x) == 0 or np.ptp(y) == 0:
                row["note"] = "constant over the structures"
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", stats.ConstantInputWarning)
                    pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
                r_low, r_high = bootstrap_interval(x, y, _pearson, n_resamples)
                rho_low, rho_high = bootstrap_interval(x, y, _spearman, n_resamples)
                row.update(
                    pearson_r=float(pearson.statistic),
                    r_low=r_low,
                    r_high=r_high,
                    pearson_p=float(pearson.pvalue),
                    spearman_rho=float(spearman.statistic),
                    rho_low=rho_low,
                    rho_high=rho_high,
                    spearman_p=float(spearman.pvalue),
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
