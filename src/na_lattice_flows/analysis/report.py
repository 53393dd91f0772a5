"""`na-flows report`: one self-contained HTML page per campaign (or every campaign) from the stores: the
dataset table (also written as CSV and Parquet), correlations, the D model, the figures, the top candidates and
every failure with its reason. Each section that lacks the data it needs says so instead of failing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

from na_lattice_flows.analysis import figures
from na_lattice_flows.analysis.dataset import correlations, dataset, export_table, usable
from na_lattice_flows.analysis.html import (
    Section,
    disputed_section,
    figure_html,
    page_html,
    table_html,
)
from na_lattice_flows.analysis.interactive import interactive_html, plotly_library
from na_lattice_flows.analysis.ml import NotEnoughData, rank_candidates, train_diffusion_models
from na_lattice_flows.analysis.temperature_stability import (
    phonopy_from_output,
    soft_mode_section,
    temperature_stability_section,
)
from na_lattice_flows.analysis.training_figures import force_field_section
from na_lattice_flows.errors import InputError
from na_lattice_flows.execution import queries
from na_lattice_flows.execution.queries import (
    arrhenius_series,
    doped_study_documents,
    md_curves,
    phonon_output,
    summaries_of,
)
from na_lattice_flows.execution.results import (
    failures_table,
    force_benchmarks_table,
    rejections_table,
    results_table,
)
from na_lattice_flows.execution.stores import Session
from na_lattice_flows.md.diffusion import MIN_MELT_FILTER_DURATION_PS
from na_lattice_flows.phonons.descriptors import ModeData, band_mode_data
from na_lattice_flows.workflow.columns import MAIN_COLUMNS

PAGE_COLUMNS = [*MAIN_COLUMNS, "md_preset", "md_engine", "campaign_id"]
MIN_CORRELATION_ROWS = 3


@dataclass
class Report:
    """What ``build_report`` wrote: the page, its tables, the D models and the figures."""

    path: Path
    tables: list[Path]
    model_paths: list[Path]
    figures: list[Path]
    cannot_compute: list[str]


def _top(table: pd.DataFrame, n: int) -> pd.DataFrame:
    return usable(table).sort_values("D_avg_A2_per_ps", ascending=False).head(n)


@dataclass
class _Page:
    """What the sections write beside the page, and what they could not compute."""

    out_dir: Path
    figures: list[Path] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)

    @property
    def figure_dir(self) -> Path:
        return self.out_dir / "figures"

    def figure(self, paths: list[Path], caption: str) -> str:
        self.figures += paths
        return figure_html(paths, caption, self.out_dir)


def _structures_section(page: _Page, table: pd.DataFrame) -> tuple[Section, list[Path]]:
    """The dataset on the page, and every column as CSV and Parquet, one file pair per campaign."""
    tables = []
    for campaign, rows in table.groupby(table["campaign_id"].fillna("no-campaign")):
        tables += [
            export_table(rows, page.out_dir / "tables" / f"{campaign}.{suffix}")
            for suffix in ("csv", "parquet")
        ]
    links = " ".join(
        f'<a href="{p.relative_to(page.out_dir).as_posix()}">{p.name}</a>' for p in tables
    )
    n_usable = int(table["usable_for_D"].sum())
    body = (
        f"<p>{len(table)} structures, {int(table['dynamically_stable'].eq(True).sum())} dynamically stable, {n_usable} with a "
        f"diffusion coefficient from MD (not melted). Every column: {links or '(no structures)'}.</p>"
        + table_html(table.reindex(columns=PAGE_COLUMNS), "structures")
    )
    return Section("Structures", body), tables


def _correlation_section(page: _Page, table: pd.DataFrame) -> Section | None:
    rows = usable(table)
    if len(rows) < MIN_CORRELATION_ROWS:
        page.cannot.append(
            f"correlations: {len(rows)} structures with D (need {MIN_CORRELATION_ROWS})"
        )
        return None
    corr = correlations(rows)
    corr.to_csv(page.out_dir / "correlations.csv", index=False)
    heatmap = ""
    if corr["pearson_r"].notna().any():
        caption = "Correlation of each descriptor with D (average and maximum direction)"
        heatmap = page.figure(figures.correlation_heatmap(corr, page.figure_dir), caption)
    return Section("Correlations with D", heatmap + table_html(corr, "correlations", digits=3))


def _model_sections(
    page: _Page, table: pd.DataFrame, n_top: int
) -> tuple[Section | None, str, list[Path]]:
    """Train, score and save the D models; the ranking of the structures without MD by the phonon-only one."""
    paths, body, ranking_html = [], "", ""
    for include_structure, stem in [
        (False, "diffusion_model"),
        (True, "diffusion_model_with_structure"),
    ]:
        try:
            model = train_diffusion_models(table, include_structure=include_structure)
        except NotEnoughData as error:
            page.cannot.append(
                f"D model ({'phonon + structural' if include_structure else 'phonon'} descriptors): {error}"
            )
            continue
        paths.append(model.save(page.out_dir / f"{stem}.joblib"))
        scores = pd.DataFrame(
            [
                {
                    "model": s.name,
                    "R2 (grouped CV)": s.r2,
                    "MAE log10 D": s.mae_log10,
                    "top features": ", ".join(
                        f"{k} {v:.2f}"
                        for k, v in sorted(s.feature_importances.items(), key=lambda kv: -kv[1])[:4]
                    ),
                }
                for s in model.scores.values()
            ]
        )
        body += (
            f"<h3>{'Phonon and structural' if include_structure else 'Phonon'} descriptors → log10 D "
            f"({model.n_structures} structures, {model.n_systems} chemical systems, {model.n_folds} folds by system; "
            f"<a href='{stem}.joblib'>{stem}.joblib</a>, best: {model.best})</h3>"
            + table_html(scores, digits=3)
        )
        if not include_structure:
            ranking = rank_candidates(model, table[table["D_avg_A2_per_ps"].isna()])
            ranked = ranking[ranking["rank"].notna()].head(n_top)
            ranking_html = (
                "<h3>Most promising without MD yet (predicted from phonon descriptors)</h3>"
                + table_html(ranked, "predicted")
            )
    section = Section("Predicting D from lattice dynamics", body) if body else None
    return section, ranking_html, paths


def _scatter_figures(page: _Page, table: pd.DataFrame) -> list[str]:
    rows = usable(table)
    plots = [
        (
            figures.d_vs_msd,
            "D against the Na phonon MSD at the phonon temperature",
            "msd_na_avg_A2",
        ),
        (
            figures.d_vs_vdos_center,
            "D against the Na VDOS centre from MD, coloured by centre / acoustic cutoff",
            "na_vdos_center_over_acoustic_cutoff",
        ),
        (
            figures.d_vs_acoustic_cutoff,
            "D against the acoustic cutoff frequency",
            "acoustic_cutoff_thz",
        ),
    ]
    parts = (
        [
            page.figure(
                figures.stability_map(table, page.figure_dir),
                "Na phonon MSD against the acoustic cutoff, stable and unstable",
            )
        ]
        if pd.to_numeric(table["acoustic_cutoff_thz"], errors="coerce").notna().any()
        else []
    )
    for plot, caption, needs in plots:
        if pd.to_numeric(rows[needs], errors="coerce").notna().any():
            parts.append(page.figure(plot(table, page.figure_dir), caption))
        else:
            page.cannot.append(f"figure '{caption}': no structure with D and {needs}")
    return parts


def _dispersion_figures(
    page: _Page, session: Session, table: pd.DataFrame, n_dispersions: int
) -> list[str]:
    """Both dispersion figures of the fastest structures (or, before any MD, the stable ones with the largest
    Na MSD), rebuilt from the stored force constants. A structure that cannot be drawn is listed, not fatal."""
    shown = _top(table, n_dispersions)
    if shown.empty:
        stable = table[table["dynamically_stable"].eq(True)]
        shown = stable.sort_values("msd_na_avg_A2", ascending=False).head(n_dispersions)
    if shown.empty:
        page.cannot.append("dispersions: no dynamically stable structure with phonons")
        return []
    summaries = summaries_of(session, shown["candidate_id"].tolist())
    parts = []
    for _, row in shown.iterrows():
        cid, formula = row["candidate_id"], row["formula"]
        phonon = phonon_output(session, cid)
        if phonon is None or cid not in summaries:
            page.cannot.append(f"dispersion of {cid}: no stored force constants")
            continue
        output = phonon["output"]
        try:
            ph = phonopy_from_output(
                Structure.from_dict(summaries[cid]["relaxed_structure"]), output
            )
            temperature = output["descriptors"]["temperature_K"]
            band = band_mode_data(ph, temperature_k=temperature)
        except ValueError as error:
            page.cannot.append(f"dispersion of {cid}: {error}")
            continue
        modes = ModeData.model_validate(output["mode_data"])
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in cid)
        parts.append(
            page.figure(
                figures.dispersion_by_na_msd(
                    band, modes, formula, temperature, page.figure_dir, f"dispersion_msd_{stem}"
                ),
                f"{cid}: dispersion coloured by mode Na MSD, participation ratio",
            )
        )
        cutoff, na_center = (
            output["descriptors"]["acoustic_cutoff_thz"],
            output["descriptors"]["na_pdos_center_thz"],
        )
        parts.append(
            page.figure(
                figures.dispersion_by_coupling(
                    band,
                    modes,
                    formula,
                    cutoff,
                    na_center,
                    page.figure_dir,
                    f"dispersion_coupling_{stem}",
                ),
                f"{cid}: dispersion coloured by Na-host coupling, partial VDOS",
            )
        )
    return parts


def _md_figures(page: _Page, session: Session, table: pd.DataFrame) -> list[str]:
    """MSD(t) of the fastest structures' reference runs; Arrhenius plots of every temperature series."""
    parts, curves = [], {}
    for _, row in _top(table, 6).iterrows():
        temperature = row["md_temperature_K"] if pd.notna(row["md_temperature_K"]) else None
        curve = md_curves(session, row["candidate_id"], temperature)
        if curve is not None:
            curves[
                f"{row['candidate_id']} ({row['formula']}), D = {row['D_avg_A2_per_ps']:.3g} Å²/ps"
            ] = curve
    if curves:
        parts.append(
            page.figure(
                figures.msd_curves(curves, page.figure_dir),
                "MSD(t) from MD (Na per direction; every element's total)",
            )
        )
    else:
        page.cannot.append("MSD(t) curves: no MD trajectory analysed")
    series = arrhenius_series(session, table["candidate_id"].tolist())
    if series:
        parts.append(
            page.figure(
                figures.arrhenius_plot(series, page.figure_dir),
                "Arrhenius plot of D over the MD temperature series",
            )
        )
    else:
        page.cannot.append(
            "Arrhenius plot: no structure has MD at two or more temperatures (submit with --md-temperatures)"
        )
    return parts


def _doping_section(page: _Page, session: Session) -> Section | None:
    """The doped studies: their tables (also CSV and Parquet) and Figs. 2-6; None when the store has none."""
    from na_lattice_flows.analysis import doping_figures

    studies = doped_study_documents(session, load_systems=True)
    if not studies:
        return None
    body = []
    for study in studies:
        rows, transport = pd.DataFrame(study["table"]), pd.DataFrame(study["transport_table"])
        for name, frame in (("systems", rows), ("transport", transport)):
            for suffix in (".csv", ".parquet"):
                export_table(frame, page.out_dir / f"doping_{study['study_id']}_{name}{suffix}")
        body.append(
            f"<h3>{study['study_id']} ({study['structure_formula']}, {study['model']}, preset {study['preset']})</h3>"
            + table_html(rows.drop(columns=["T_C_reason"]), f"doping-{study['study_id']}")
            + "<h4>Transport per temperature</h4>"
            + table_html(transport)
        )
        figure_dir = page.figure_dir / study["study_id"]
        drawn = [
            (
                doping_figures.lattice_vs_temperature(study["systems"], figure_dir),
                "Lattice parameters against T, T_C band shaded",
            ),
            (
                doping_figures.tc_vs_fraction(study["table"], figure_dir),
                "T_C against the dopant fraction",
            ),
            (
                doping_figures.four_systems(study["table"], figure_dir),
                "Pristine, dopant only, vacancies only, dopant + vacancies",
            ),
            (
                doping_figures.dihedral_series(study["systems"], figure_dir),
                "Dihedral angles of successive tetrahedra along [111]",
            ),
            (
                doping_figures.arrhenius_axes(study["systems"], figure_dir),
                "Arrhenius plots of D*, D along c and in ab",
            ),
        ]
        if study.get("harmonic") and study.get("harmonic_structure"):
            harmonic = study["harmonic"]
            ph = phonopy_from_output(Structure.from_dict(study["harmonic_structure"]), harmonic)
            drawn.append(
                (
                    doping_figures.harmonic_dispersion(
                        ph, harmonic["stability"], harmonic["formula"], figure_dir
                    ),
                    f"Harmonic check: {harmonic['formula']} ({harmonic['amplitude_A']:g} A displacements, {harmonic['model']})",
                )
            )
        body += [page.figure(paths, caption) for paths, caption in drawn if paths]
        undetermined = rows[rows["T_C_K"].isna()]
        page.cannot += [f"T_C of {r.system}: {r.T_C_reason}" for r in undetermined.itertuples()]
    return Section("Doped electrolytes: phase transition and transport", "".join(body))


def _failures_section(session: Session, table: pd.DataFrame, campaign_id: str | None) -> Section:
    """Failed jobs, rejected inputs, structures without MD and melted runs, each with its reason."""
    failures = failures_table(session).drop(columns=["traceback"])
    rejected = rejections_table(session)
    if campaign_id is not None:
        failures = failures[failures["candidate_id"].isin(table["candidate_id"])]
        rejected = rejected[rejected["campaign_id"] == campaign_id]
    skipped = table[table["md_skipped_reason"].notna()][
        ["candidate_id", "formula", "md_skipped_reason"]
    ]
    melted = table[table["melted"].eq(True)][["candidate_id", "formula", "D_avg_A2_per_ps"]]
    return Section(
        "Failures and exclusions",
        (
            f"<h3>Failed jobs ({len(failures)})</h3>"
            + table_html(failures, "failures")
            + f"<h3>Rejected at submission ({len(rejected)})</h3>"
            + table_html(rejected, "rejected")
            + f"<h3>No MD ({len(skipped)})</h3>"
            + table_html(skipped)
            + f"<h3>Melted in MD, excluded from the statistics ({len(melted)})</h3>"
            + table_html(melted)
        ),
    )


def _provenance_section(page: _Page, table: pd.DataFrame) -> Section:
    durations = pd.to_numeric(table["md_production_ps"], errors="coerce").dropna()
    if len(durations) and durations.min() < MIN_MELT_FILTER_DURATION_PS:
        page.cannot.append(
            f"converged D: MD production runs of {durations.min():g} ps; below ~{MIN_MELT_FILTER_DURATION_PS:g} ps a fit "
            "reads the vibrational MSD plateau, not diffusion (the paper preset runs 60 ps)"
        )
    columns = [
        "model",
        "phonon_model",
        "fc_method",
        "md_model",
        "md_engine",
        "md_preset",
        "md_friction_per_ps",
    ]
    # workflows not finished yet have none
    provenance = table[columns].dropna(how="all").drop_duplicates()
    if len(provenance) > 1:
        page.cannot.append(
            "mixed provenance: the rows were computed with different settings (see Provenance); compare within one"
        )
    return Section("Provenance", table_html(provenance.reset_index(drop=True)))


def build_report(
    session: Session,
    out_dir: str | Path,
    campaign_id: str | None = None,
    n_top: int = 10,
    n_dispersions: int = 3,
) -> Report:
    """Write ``out_dir/index.html`` with its tables, figures and models beside it."""
    page = _Page(Path(out_dir))
    page.out_dir.mkdir(parents=True, exist_ok=True)
    session.job_store.connect()
    results = results_table(session)
    if campaign_id is not None:
        known = sorted(results["campaign_id"].dropna().unique())
        if campaign_id not in known:
            raise InputError(
                f"campaign {campaign_id!r} not in the store; campaigns: {', '.join(known) or 'none'}"
            )
        results = results[results["campaign_id"] == campaign_id].reset_index(drop=True)
    table = dataset(results)

    provenance = _provenance_section(page, table)
    structures, tables = _structures_section(page, table)
    top = _top(table, n_top)
    if top.empty:
        page.cannot.append("top candidates: no structure has a diffusion coefficient from MD yet")
    correlation = _correlation_section(page, table)
    models, ranking_html, model_paths = _model_sections(page, table, n_top)
    candidates = Section(
        "Top candidates",
        "<h3>Fastest measured (D average, MD)</h3>"
        + table_html(top.reindex(columns=PAGE_COLUMNS[:12]), "top")
        + ranking_html,
    )
    figure_html = (
        _scatter_figures(page, table)
        + _dispersion_figures(page, session, table, n_dispersions)
        + _md_figures(page, session, table)
    )
    # hover: a point's identity; click: its row in the structures table
    plots = interactive_html(table)
    drawn = Section(
        "Figures",
        plots + "".join(figure_html) or "<p class='note'>No figure could be drawn yet.</p>",
    )
    force_fields = force_field_section(
        page,
        queries.trained_model_documents(session),
        queries.frame_benchmark_documents(session),
        queries.dft_phonon_documents(session),
        force_benchmarks_table(queries.force_benchmark_documents(session)),
    )
    sections = [
        provenance,
        structures,
        candidates,
        disputed_section(table),
        temperature_stability_section(page, session, table, n_dispersions),
        correlation,
        models,
        drawn,
        _doping_section(page, session),
        soft_mode_section(page, session),
        force_fields,
        _failures_section(session, table, campaign_id),
    ]
    path = page.out_dir / "index.html"
    path.write_text(
        page_html(
            campaign_id,
            [s for s in sections if s is not None],
            page.cannot,
            len(page.figures) // 2,
            head=plotly_library() if plots else "",
        )
    )
    return Report(path, tables, model_paths, page.figures, page.cannot)
