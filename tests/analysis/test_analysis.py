"""Statistics and the D model on synthetic tables whose correlations are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from synthetic_tables import linear_truth, synthetic_results

from na_lattice_flows.analysis.dataset import (
    PHONON_DESCRIPTORS,
    correlations,
    dataset,
    export_table,
)
from na_lattice_flows.analysis.ml import (
    DiffusionModel,
    NotEnoughData,
    estimators,
    grouped_folds,
    rank_candidates,
    train_diffusion_models,
)


def test_pearson_and_spearman_recover_the_constructed_correlations():
    n, rho = 2000, 0.8
    rng = np.random.default_rng(1001)
    table = synthetic_results(n)
    z = table["msd_na_avg_A2"].to_numpy()
    # corr(z, D) = rho
    table["D_avg_A2_per_ps"] = 0.1 + 0.03 * (z + np.sqrt(1 / rho**2 - 1) * rng.normal(size=n))
    table["D_max_A2_per_ps"] = table["D_avg_A2_per_ps"] ** 3  # monotone in D_avg
    table["msd_na_max_A2"] = -z  # anticorrelated
    table["na_pdos_center_thz"] = np.exp(3 * z)  # monotone in z, far from linear
    # the intervals: test_bootstrap_intervals_... (at n = 2000 they cost half a minute here)
    result = correlations(dataset(table), n_resamples=0).set_index(["descriptor", "target"])
    sigma = (1 - rho**2) / np.sqrt(n)  # standard error of r
    avg = "D_avg_A2_per_ps"
    assert result.loc[("msd_na_avg_A2", avg), "pearson_r"] == pytest.approx(rho, abs=4 * sigma)
    assert result.loc[("msd_na_max_A2", avg), "pearson_r"] == pytest.approx(
        -result.loc[("msd_na_avg_A2", avg), "pearson_r"], abs=1e-12
    )
    assert result.loc[("msd_na_avg_A2", avg), "pearson_r"] == pytest.approx(
        np.corrcoef(z, table[avg])[0, 1], abs=1e-12
    )
    # independent by construction
    assert abs(result.loc[("packing_fraction", avg), "pearson_r"]) < 4 / np.sqrt(n)
    # Spearman sees only ranks: a monotone transform of z keeps rho_s, but loses Pearson's r
    spearman_z = result.loc[("msd_na_avg_A2", avg), "spearman_rho"]
    assert result.loc[("na_pdos_center_thz", avg), "spearman_rho"] == pytest.approx(
        spearman_z, abs=1e-12
    )
    assert (
        result.loc[("na_pdos_center_thz", avg), "pearson_r"]
        < result.loc[("msd_na_avg_A2", avg), "pearson_r"] - 0.2
    )
    # D_max = D_avg^3: z's Spearman correlation with both is the same
    assert result.loc[("msd_na_avg_A2", "D_max_A2_per_ps"), "spearman_rho"] == pytest.approx(
        spearman_z, abs=1e-12
    )
    assert (result["n"] == n).all() and result["pearson_p"].loc[("msd_na_avg_A2", avg)] < 1e-100


def test_correlation_counts_skip_missing_values_and_say_what_cannot_be_computed():
    table = synthetic_results(30)
    table["D_avg_A2_per_ps"] = np.linspace(0.01, 0.3, 30)
    table["D_max_A2_per_ps"] = None
    table.loc[:9, "msd_na_avg_A2"] = np.nan
    table["packing_fraction"] = 0.5
    result = correlations(dataset(table)).set_index(["descriptor", "target"])
    assert result.loc[("msd_na_avg_A2", "D_avg_A2_per_ps"), "n"] == 20
    assert result.loc[("acoustic_cutoff_thz", "D_max_A2_per_ps"), "n"] == 0
    assert "need 3" in result.loc[("acoustic_cutoff_thz", "D_max_A2_per_ps"), "note"]
    assert np.isnan(result.loc[("acoustic_cutoff_thz", "D_max_A2_per_ps"), "pearson_r"])
    assert (
        result.loc[("packing_fraction", "D_avg_A2_per_ps"), "note"]
        == "constant over the structures"
    )


def test_dataset_derives_log_d_systems_and_excludes_melts():
    table = synthetic_results(4)
    table["formula"] = ["Na3PS4", "Na3SbS4", "NaCl", "Na2S"]
    table["D_avg_A2_per_ps"] = [0.1, 1e-7, 0.2, None]
    table["melted"] = [False, False, True, None]
    table["na_vdos_center_thz"] = [4.0, 4.0, 4.0, 4.0]
    table["acoustic_cutoff_thz"] = [2.0, 1.0, 4.0, 2.0]
    data = dataset(table)
    assert data["chemical_system"].tolist() == ["Na-P-S", "Na-S-Sb", "Cl-Na", "Na-S"]
    # 1e-7 clipped at 1e-4
    np.testing.assert_allclose(data["log10_D_avg_A2_per_ps"][:3], [-1.0, -4.0, np.log10(0.2)])
    assert data["usable_for_D"].tolist() == [True, True, False, False]
    np.testing.assert_allclose(data["na_vdos_center_over_acoustic_cutoff"], [2.0, 4.0, 1.0, 2.0])


def test_table_exports_to_csv_and_parquet_and_reads_back(tmp_path):
    table = dataset(synthetic_results(12))
    table["D_avg_A2_per_ps"] = np.linspace(0.01, 0.3, 12)
    table.loc[3, "dynamically_stable"] = None
    csv, parquet = (
        export_table(table, tmp_path / "t.csv"),
        export_table(table, tmp_path / "t.parquet"),
    )
    for back in (pd.read_csv(csv), pd.read_parquet(parquet)):
        assert list(back.columns) == list(table.columns) and len(back) == 12
        np.testing.assert_allclose(back["msd_na_avg_A2"], table["msd_na_avg_A2"])
    assert pd.read_parquet(parquet)["dynamically_stable"].isna().sum() == 1
    with pytest.raises(ValueError, match="csv or .parquet"):
        export_table(table, tmp_path / "t.xlsx")


def test_cross_validation_never_puts_one_chemical_system_on_both_sides():
    table = linear_truth(160)
    groups = table["chemical_system"]
    for train, test in grouped_folds(groups):
        assert not set(groups.iloc[train]) & set(groups.iloc[test])
    model = train_diffusion_models(table)
    folds_of_system = model.out_of_fold.groupby("chemical_system")["fold"].nunique()
    assert (
        folds_of_system == 1
    ).all()  # each system is tested in one fold, so trained on in none of its own
    assert model.n_folds == 5 and model.n_systems == 40 and model.out_of_fold["fold"].nunique() == 5


def test_linear_truth_is_learned_to_the_noise_level():
    noise = 0.1
    model = train_diffusion_models(linear_truth(240, noise=noise))
    linear = model.scores["linear"]
    assert linear.r2 > 0.9
    # E|N(0, s)| = s sqrt(2/pi)
    assert linear.mae_log10 == pytest.approx(noise * np.sqrt(2 / np.pi), rel=0.35)
    informative = ("msd_na_avg_A2", "acoustic_cutoff_thz", "low_freq_na_host_coupling")
    assert sum(linear.feature_importances[f] for f in informative) > 0.85
    assert sum(model.scores["gradient_boosting"].feature_importances[f] for f in informative) > 0.7
    assert model.best == "linear" and model.features == PHONON_DESCRIPTORS


def test_trees_beat_the_linear_baseline_on_a_threshold_law():
    table = synthetic_results(240, seed=3)
    # fast conduction only where the Na PDOS sits low: a step the linear model cannot draw
    step = np.where(table["na_pdos_center_thz"] < 0, 1.5, 0.0)
    table["D_avg_A2_per_ps"] = 10 ** (
        -3.0 + step + 0.05 * np.random.default_rng(1003).normal(size=240)
    )
    model = train_diffusion_models(dataset(table), include_structure=True)
    assert model.scores["gradient_boosting"].r2 > 0.9 > model.scores["linear"].r2
    assert model.best == "gradient_boosting"
    assert (
        max(model.scores["gradient_boosting"].feature_importances.items(), key=lambda kv: kv[1])[0]
        == "na_pdos_center_thz"
    )
    assert "packing_fraction" in model.features


def test_grouping_is_what_stops_near_duplicates_from_leaking():
    """Each system: its own D and near-identical descriptors carrying no law across systems. A random split
    scores high by recognising the twin; the grouped split correctly finds nothing to predict."""
    rng = np.random.default_rng(1005)
    n_systems, per_system = 40, 5
    table = synthetic_results(n_systems * per_system, n_systems=n_systems)
    system_index = np.arange(len(table)) % n_systems
    fingerprint = rng.normal(size=(n_systems, len(PHONON_DESCRIPTORS)))
    table[PHONON_DESCRIPTORS] = fingerprint[system_index] + 0.01 * rng.normal(
        size=(len(table), len(PHONON_DESCRIPTORS))
    )
    table["D_avg_A2_per_ps"] = 10 ** rng.uniform(-3, 0, n_systems)[system_index]
    data = dataset(table)
    grouped = train_diffusion_models(data).scores["gradient_boosting"].r2
    X, y = data[PHONON_DESCRIPTORS].to_numpy(float), data["log10_D_avg_A2_per_ps"].to_numpy()
    shuffled = cross_val_predict(
        clone(estimators()["gradient_boosting"]), X, y, cv=KFold(5, shuffle=True, random_state=0)
    )
    assert r2_score(y, shuffled) > 0.7
    assert grouped < 0.3


def test_model_saves_loads_and_ranks_stable_candidates(tmp_path):
    model = train_diffusion_models(linear_truth(120))
    path = model.save(tmp_path / "model.joblib")
    loaded = DiffusionModel.load(path)
    new = linear_truth(20, seed=9)
    new["candidate_id"] = [f"new-{i}" for i in range(20)]
    np.testing.assert_array_equal(loaded.predict_log10_D(new), model.predict_log10_D(new))
    new.loc[0, "dynamically_stable"] = False
    new.loc[1, PHONON_DESCRIPTORS] = np.nan
    new[["D_avg_A2_per_ps", "melted"]] = None
    ranking = rank_candidates(loaded, new)
    ranked = ranking[ranking["rank"].notna()]
    assert len(ranked) == 18 and ranked["predicted_log10_D"].is_monotonic_decreasing
    from na_lattice_flows.cli.common import render_table

    shown = render_table(ranking[["candidate_id", "rank"]], "table").splitlines()
    assert shown[1].split()[-1] == "1" and shown[-1].split()[-1] == "<NA>"  # integers, not 1.0000
    notes = ranking.set_index("candidate_id")["note"]
    assert (
        notes["new-0"] == "not dynamically stable: no MD candidate"
        and notes["new-1"] == "no phonon descriptors yet"
    )
    # the top of the list is where the true law puts the fastest conductors
    truth = (
        0.6 * new["msd_na_avg_A2"]
        - 0.5 * new["acoustic_cutoff_thz"]
        + 0.4 * new["low_freq_na_host_coupling"]
    )
    true_best = new.loc[truth.drop([0, 1]).idxmax(), "candidate_id"]
    assert true_best in ranked["candidate_id"].head(3).tolist()
    (tmp_path / "junk.joblib").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable model file"):
        DiffusionModel.load(tmp_path / "junk.joblib")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        DiffusionModel.load(tmp_path / "missing.joblib")


def test_too_few_structures_is_a_clear_error():
    with pytest.raises(NotEnoughData, match="4 structures from 4 chemical systems"):
        train_diffusion_models(linear_truth(4))


def test_bootstrap_intervals_of_the_correlations_match_the_analytic_ones():
    """The 95 % bootstrap intervals against Fisher's z interval (Pearson) and Bonett-Wright's (Spearman: the
    same transform with standard error sqrt((1 + rho^2 / 2) / (n - 3))) on a bivariate normal sample, where
    both are accurate; and they bracket the estimates."""
    from scipy import stats

    rng = np.random.default_rng(7)
    n = 300
    x = rng.normal(size=n)
    table = synthetic_results(n)
    table["msd_na_avg_A2"] = x
    table["D_avg_A2_per_ps"] = 0.8 * x + 0.6 * rng.normal(size=n)
    row = (
        correlations(dataset(table), descriptors=["msd_na_avg_A2"], targets=("D_avg_A2_per_ps",))
        .iloc[0]
        .to_dict()
    )
    fisher = stats.pearsonr(x, table["D_avg_A2_per_ps"]).confidence_interval(0.95)
    assert row["r_low"] == pytest.approx(fisher.low, abs=0.015)
    assert row["r_high"] == pytest.approx(fisher.high, abs=0.015)
    rho = row["spearman_rho"]
    half = 1.959964 * np.sqrt((1 + rho**2 / 2) / (n - 3))
    assert row["rho_low"] == pytest.approx(np.tanh(np.arctanh(rho) - half), abs=0.015)
    assert row["rho_high"] == pytest.approx(np.tanh(np.arctanh(rho) + half), abs=0.015)
    assert row["r_low"] < row["pearson_r"] < row["r_high"]
    assert row["rho_low"] < rho < row["rho_high"]
