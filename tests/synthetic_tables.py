"""Synthetic results tables with known laws, for the statistics, the D model and the report (shared by the
analysis tests and the integration tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from na_lattice_flows.analysis.dataset import DESCRIPTORS, dataset
from na_lattice_flows.workflow.columns import RESULT_COLUMNS

ANIONS = [
    "Cl",
    "Br",
    "I",
    "S",
    "Se",
    "Te",
    "O",
    "N",
    "P",
    "As",
    "Sb",
    "Bi",
    "B",
    "Al",
    "Ga",
    "Si",
    "Ge",
    "Sn",
    "F",
    "H",
]


def systems(n_systems: int) -> list[str]:
    """Distinct chemical systems Na-X or Na-X-Y."""
    pairs = [(a,) for a in ANIONS] + [(a, b) for i, a in enumerate(ANIONS) for b in ANIONS[i + 1 :]]
    return ["Na" + "".join(pair) for pair in pairs[:n_systems]]


def synthetic_results(n: int, seed: int = 0, n_systems: int = 40) -> pd.DataFrame:
    """A results table of n structures spread over n_systems chemical systems (several formulas each)."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({column: [None] * n for column in RESULT_COLUMNS})
    names = systems(n_systems)
    base = [names[i % n_systems] for i in range(n)]
    table["formula"] = [
        f"{formula}{1 + i // n_systems}" if i >= n_systems else formula
        for i, formula in enumerate(base)
    ]
    table["candidate_id"] = [f"syn-{i}" for i in range(n)]
    for column in DESCRIPTORS:
        if column != "na_vdos_center_over_acoustic_cutoff":
            table[column] = rng.normal(size=n)
    table["acoustic_cutoff_thz"] = rng.uniform(1.0, 3.0, n)
    # as in the store's table: None where unknown
    table["dynamically_stable"] = pd.Series([True] * n, dtype=object)
    table["melted"] = pd.Series([False] * n, dtype=object)
    return table


def linear_truth(n: int, seed: int = 0, noise: float = 0.1) -> pd.DataFrame:
    """log10 D linear in three phonon descriptors, plus noise of known size; the other features are noise."""
    rng = np.random.default_rng(seed + 1000)  # not synthetic_results' stream: the noise must be new
    table = synthetic_results(n, seed)
    signal = (
        0.6 * table["msd_na_avg_A2"]
        - 0.5 * table["acoustic_cutoff_thz"]
        + 0.4 * table["low_freq_na_host_coupling"]
    )
    table["D_avg_A2_per_ps"] = 10 ** (-1.0 + signal + noise * rng.normal(size=n))
    return dataset(table)
