"""The report on a campaign large enough for every statistic (a synthetic table served as the store's), and
the page in headless Chromium. The report of a real, small campaign is tested in test_fireworks_path."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from report_helpers import body_counts, rendered_dom
from synthetic_tables import linear_truth

from na_lattice_flows.analysis import report as report_module
from na_lattice_flows.analysis.ml import DiffusionModel
from na_lattice_flows.cli import main
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.workflow.columns import RESULT_COLUMNS


@pytest.fixture
def synthetic_store(embedded_settings, monkeypatch):
    """An empty embedded store whose results table is 60 synthetic structures with a known D law; 10 have no MD."""
    table = linear_truth(60)[RESULT_COLUMNS].copy()
    table["state"], table["campaign_id"], table["md_preset"] = (
        "COMPLETED",
        "campaign-synthetic",
        "paper",
    )
    table.loc[50:, ["D_avg_A2_per_ps", "D_max_A2_per_ps"]] = None
    table["D_max_A2_per_ps"] = table["D_avg_A2_per_ps"] * 1.5
    table.loc[3, "melted"] = True
    monkeypatch.setattr(report_module, "results_table", lambda session: table)
    return embedded_settings, table


def test_report_computes_every_statistic_and_renders(synthetic_store, tmp_path):
    from na_lattice_flows.md.diffusion import arrhenius_fit
    from na_lattice_flows.workflow.names import SUMMARY_JOB_NAME

    settings, table = synthetic_store
    temperatures = [600.0, 800.0, 1000.0]
    fit = arrhenius_fit(
        temperatures, [0.5 * np.exp(-0.25 / (8.617333e-5 * t)) for t in temperatures]
    ).model_dump()
    with open_session(
        settings
    ) as session:  # two summaries with an MD temperature series, one without MD
        session.job_store.connect()
        session.job_store.update(
            [
                {
                    "uuid": f"u{i}",
                    "index": 1,
                    "name": SUMMARY_JOB_NAME,
                    "completed_at": "2026-01-01",
                    "output": {
                        "candidate_id": f"syn-{i}",
                        "formula": table.loc[i, "formula"],
                        "transport": transport,
                    },
                }
                for i, transport in [(0, {"arrhenius": fit}), (1, {"arrhenius": fit}), (2, None)]
            ],
            key=["uuid", "index"],
        )
        report = report_module.build_report(session, tmp_path / "report")
    written = {p.name for p in report.figures}
    assert {
        "d_vs_na_msd.png",
        "d_vs_na_vdos_center.svg",
        "d_vs_acoustic_cutoff.png",
        "correlation_heatmap.svg",
    } <= written
    assert [p.name for p in report.model_paths] == [
        "diffusion_model.joblib",
        "diffusion_model_with_structure.joblib",
    ]
    # no force constants or MD curves in this store: said, not failed
    assert any(reason.startswith("dispersion of syn-") for reason in report.cannot_compute)
    assert (
        "arrhenius.svg" in written
        and "syn-1 (" in (report.path.parent / "figures" / "arrhenius.svg").read_text()
    )
    exported = pd.read_parquet(report.path.parent / "tables" / "campaign-synthetic.parquet")
    assert len(exported) == 60 and {
        "msd_na_avg_A2",
        "md_preset",
        "log10_D_avg_A2_per_ps",
        "chemical_system",
    } <= set(exported.columns)
    correlation = pd.read_csv(report.path.parent / "correlations.csv").set_index(
        ["descriptor", "target"]
    )
    # 50 with MD, one melted
    assert correlation.loc[("msd_na_avg_A2", "D_avg_A2_per_ps"), "n"] == 49
    # log10 D = 0.6 msd + ...
    assert correlation.loc[("msd_na_avg_A2", "D_avg_A2_per_ps"), "spearman_rho"] > 0.4
    # every computed correlation carries its 95 % bootstrap interval, in the report's table too
    computed = correlation[correlation["pearson_r"].notna()]
    assert len(computed) and (computed["r_low"] <= computed["pearson_r"]).all()
    assert (computed["pearson_r"] <= computed["r_high"]).all()
    assert (computed["rho_low"] <= computed["spearman_rho"]).all()
    assert (computed["spearman_rho"] <= computed["rho_high"]).all()
    assert "<th>r_low</th>" in report.path.read_text()

    dom = rendered_dom(report.path)
    counts = body_counts(dom)
    assert (
        counts["expected"] == len(report.figures) // 2 == counts["loaded"] and counts["broken"] == 0
    )
    assert "Most promising without MD yet" in dom and "Not computed" in dom
    # the structures table sorts by a column on load ('#sort=COLUMN:desc'), blanks last
    sorted_dom = rendered_dom(report.path, "#sort=D_avg_A2_per_ps:desc")
    structures = re.search(
        r'<table class="sortable" id="structures"[^>]*>(.*?)</table>', sorted_dom, re.DOTALL
    ).group(1)
    first_ids = re.findall(r"<tr><td[^>]*>(syn-\d+)</td>", structures)
    expected = table.sort_values("D_avg_A2_per_ps", ascending=False)["candidate_id"].tolist()
    assert first_ids[:5] == expected[:5] and len(first_ids) == 60


def test_predict_ranks_the_structures_without_md(synthetic_store, tmp_path, capsys):
    settings, table = synthetic_store
    with open_session(settings) as session:
        report = report_module.build_report(session, tmp_path / "report")
    model_path = report.model_paths[0]
    table_csv = tmp_path / "new.csv"
    table.to_csv(table_csv, index=False)
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_path),
                "--table",
                str(table_csv),
                "--format",
                "json",
                "--workdir",
                str(settings.workdir),
            ]
        )
        == 0
    )
    ranking = json.loads(capsys.readouterr().out)
    assert [row["candidate_id"] for row in ranking] == [
        r["candidate_id"] for r in sorted(ranking, key=lambda r: -r["predicted_log10_D"])
    ]
    assert {row["candidate_id"] for row in ranking} == {
        f"syn-{i}" for i in range(50, 60)
    }  # only those without MD
    model = DiffusionModel.load(model_path)
    expected = model.predict_log10_D(table.iloc[50:])
    np.testing.assert_allclose(sorted(r["predicted_log10_D"] for r in ranking), sorted(expected))
    assert (
        main(
            [
                "predict",
                "--model",
                str(tmp_path / "none.joblib"),
                "--workdir",
                str(settings.workdir),
            ]
        )
        == 2
    )
    assert "no such model file" in capsys.readouterr().err
    unknown = [
        "predict",
        "--model",
        str(model_path),
        "--table",
        str(table_csv),
        "--campaign",
        "nope",
    ]
    assert main([*unknown, "--workdir", str(settings.workdir)]) == 2  # as report refuses it
    assert "--campaign nope: no such campaign" in capsys.readouterr().err


def test_arrhenius_and_msd_figures_show_the_fit_and_every_element(tmp_path):
    from na_lattice_flows.analysis import figures
    from na_lattice_flows.md.diffusion import arrhenius_fit

    temperatures = np.array([600.0, 700.0, 800.0, 900.0])
    D = 5.0 * np.exp(-0.3 / (figures.BOLTZMANN_EV_PER_K * temperatures))
    fit = arrhenius_fit(temperatures, D).model_dump()
    png, svg = figures.arrhenius_plot({"Na3PS4": fit}, tmp_path)
    assert (
        png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        and "Na3PS4: Ea = 0.30 ± 0.00 eV" in svg.read_text()
    )
    times = np.linspace(0, 10, 50)
    curves = {
        "Na2S run": {
            "times_ps": times,
            "msd_xyz_Na": np.outer(times, [1, 2, 3]),
            "msd_xyz_S": np.outer(times, [0.1] * 3),
        }
    }
    _, svg = figures.msd_curves(curves, tmp_path)
    text = svg.read_text()
    assert all(label in text for label in ("Na (x+y+z)", "S (x+y+z)", "Na x", "Na z", "Na2S run"))


def test_a_thousand_structures_read_by_hovering_clicking_and_filtering(
    embedded_settings, monkeypatch, tmp_path
):
    """Campaign scale: the page holds interactive plots of every structure (plotly, drawn offline), the static
    figures label only the top candidates, and the structures table filters by column conditions."""
    table = linear_truth(1000, seed=3)[RESULT_COLUMNS].copy()
    table["state"], table["campaign_id"], table["md_preset"] = (
        "COMPLETED",
        "campaign-large",
        "paper",
    )
    table.loc[::3, "dynamically_stable"] = False
    table.loc[::7, ["D_avg_A2_per_ps", "D_max_A2_per_ps"]] = None
    monkeypatch.setattr(report_module, "results_table", lambda session: table)
    with open_session(embedded_settings) as session:
        report = report_module.build_report(session, tmp_path / "report")
    page = report.path.read_text()
    # map + three D figures; plotly inline once
    assert page.count("Plotly.newPlot(") == 4 and 4e6 < len(page.encode()) < 12e6
    assert page.count("plotly.js v") == 1
    svg = (tmp_path / "report" / "figures" / "d_vs_acoustic_cutoff.svg").read_text()
    with_d = table[table["D_avg_A2_per_ps"].notna()].sort_values("D_avg_A2_per_ps", ascending=False)
    labelled = [
        formula for formula in with_d["formula"] if re.search(rf">{re.escape(formula)}</text>", svg)
    ]
    assert labelled == with_d["formula"].head(8).tolist()  # the eight fastest, and no other

    dom = rendered_dom(
        report.path, "#filter=dynamically_stable=True msd_na_avg_A2>0.5&sort=D_avg_A2_per_ps:desc"
    )
    assert re.search(r'data-plots-drawn="4"', dom)
    structures = re.search(
        r'<table class="sortable" id="structures" data-rows-shown="(\d+)">(.*?)</table>',
        dom,
        re.DOTALL,
    )
    stable = table["dynamically_stable"].eq(True)
    expected = table[stable & (pd.to_numeric(table["msd_na_avg_A2"]) > 0.5)]
    assert int(structures.group(1)) == len(expected) > 0
    # hidden rows carry style="display: none;"
    shown = re.findall(r"<tr><td[^>]*>(syn-\d+)</td>", structures.group(2))
    assert set(shown) == set(expected["candidate_id"])


def test_provenance_is_mixed_only_when_finished_rows_differ(tmp_path):
    """Workflows not finished yet have no provenance: they do not make a campaign's provenance 'mixed'."""
    table = linear_truth(6)
    table.loc[:3, ["model", "phonon_model", "fc_method"]] = [
        "chgnet",
        "chgnet",
        "symfc",
    ]  # rows 4, 5: still running
    page = report_module._Page(tmp_path)
    report_module._provenance_section(page, table)
    assert not any(reason.startswith("mixed provenance") for reason in page.cannot)
    table.loc[0, "phonon_model"] = "7net-0"
    report_module._provenance_section(page, table)
    assert any(reason.startswith("mixed provenance") for reason in page.cannot)
