"""`na-flows report`: one self-contained HTML page per campaign (or every campaign) from the stores: the
dataset table (also written as CSV and Parquet), correlations, the D model, the figures, the top candidates and
every failure with its reason. Each section that lacks the data it needs says so instead of failing."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from phonopy import Phonopy
from pymatgen.core import Structure
from pymatgen.io.phonopy import get_phonopy_structure

from na_lattice_flows import figures
from na_lattice_flows.analysis import D_COLUMNS, correlations, dataset, export_table, usable
from na_lattice_flows.ml import NotEnoughData, rank_candidates, train_diffusion_models
from na_lattice_flows.phonons import ModeData, band_mode_data
from na_lattice_flows.results import MAIN_COLUMNS, failures_table, rejections_table, results_table
from na_lattice_flows.stores import Session
from na_lattice_flows.transport import MIN_MELT_FILTER_DURATION_PS
from na_lattice_flows.workflows import SUMMARY_JOB_NAME

PAGE_COLUMNS = [*MAIN_COLUMNS, "md_preset", "md_engine", "campaign_id"]
MIN_CORRELATION_ROWS = 3


@dataclass
class Section:
    title: str
    body: str


@dataclass
class Report:
    path: Path
    tables: list[Path]
    model_paths: list[Path]
    figures: list[Path]
    cannot_compute: list[str]


def _figure_html(paths: list[Path], caption: str, out_dir: Path) -> str:
    png, svg = paths
    encoded = base64.b64encode(png.read_bytes()).decode()
    return (f'<figure><img data-figure="{html.escape(png.stem)}" alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f'<figcaption>{html.escape(caption)} (<a href="{svg.relative_to(out_dir).as_posix()}">SVG</a>)</figcaption></figure>')  # fmt: skip


def _cell(value, digits: int) -> tuple[str, str]:
    """A value's text and its numeric sort key ('' for text, blanks and booleans)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)), ""
    if value is None or (not isinstance(value, str) and np.ndim(value) == 0 and pd.isna(value)):
        return "", ""
    if isinstance(value, (int, np.integer)):
        return str(value), str(value)
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}g}", repr(float(value))
    return str(value), ""


def _table_html(table: pd.DataFrame, table_id: str | None = None, digits: int = 4) -> str:
    """An HTML table whose header cells sort it (script below); numbers carry their value for sorting."""
    if table.empty:
        return "<p class='note'>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.itertuples(index=False):
        cells = (_cell(value, digits) for value in row)
        rows.append("<tr>" + "".join(f'<td data-value="{html.escape(key)}">{html.escape(text)}</td>' for text, key in cells) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _summaries(session: Session, candidate_ids: list[str]) -> dict[str, dict]:
    """Newest summary document (with the relaxed structure) of the given candidates."""
    store = session.job_store
    found = {}
    for doc in store.query({"name": SUMMARY_JOB_NAME, "output.candidate_id": {"$in": candidate_ids}},
                           properties=["output", "completed_at"], sort={"completed_at": 1}):  # fmt: skip
        found[doc["output"]["candidate_id"]] = doc["output"]
    return found


def _phonon_output(session: Session, candidate_id: str) -> dict | None:
    return session.job_store.query_one(
        {"output.candidate_id": candidate_id, "output.mode_data": {"$exists": True}, "output.force_constants": {"$exists": True}},
        properties=["output"], sort={"completed_at": -1}, load=True,
    )  # fmt: skip


def _md_curves(session: Session, candidate_id: str, temperature_K: float | None) -> dict | None:
    """MSD(t) curves of the candidate's reference-temperature run (ASE engine: one document per run; torch-sim:
    one per batch)."""
    store = session.job_store
    for doc in store.query({"output.candidate_id": candidate_id, "output.curves": {"$exists": True}}, properties=["output"], load=True):
        if temperature_K is None or doc["output"]["settings"]["temperature_K"] == temperature_K:
            return doc["output"]["curves"]
    for doc in store.query({"output.runs.candidate_id": candidate_id}, properties=["output"], load=True):
        for run in doc["output"]["runs"]:
            if run["candidate_id"] == candidate_id and (temperature_K is None or run["settings"]["temperature_K"] == temperature_K):
                return run["curves"]
    return None


def phonopy_from_output(structure: Structure, output: dict) -> Phonopy:
    """Rebuild the phonon job's Phonopy object from its stored force constants."""
    primitive = output.get("primitive_matrix") or "auto"  # older documents: phonopy's choice on the same cell
    ph = Phonopy(get_phonopy_structure(structure), supercell_matrix=output["supercell_matrix"], primitive_matrix=primitive)
    force_constants = np.asarray(output["force_constants"], dtype=float)
    if force_constants.shape[1] != len(ph.supercell) or force_constants.shape[0] not in (len(ph.primitive), len(ph.supercell)):
        raise ValueError(f"stored force constants {force_constants.shape} do not fit the {len(ph.supercell)}-atom supercell")
    ph.force_constants = force_constants
    return ph


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
        return _figure_html(paths, caption, self.out_dir)


def _structures_section(page: _Page, table: pd.DataFrame) -> tuple[Section, list[Path]]:
    """The dataset on the page, and every column as CSV and Parquet, one file pair per campaign."""
    tables = []
    for campaign, rows in table.groupby(table["campaign_id"].fillna("no-campaign")):
        tables += [export_table(rows, page.out_dir / "tables" / f"{campaign}.{suffix}") for suffix in ("csv", "parquet")]
    links = " ".join(f'<a href="{p.relative_to(page.out_dir).as_posix()}">{p.name}</a>' for p in tables)
    n_usable = int(table["usable_for_D"].sum())
    body = (f"<p>{len(table)} structures, {int(table['dynamically_stable'].eq(True).sum())} dynamically stable, {n_usable} with a "
            f"diffusion coefficient from MD (not melted). Every column: {links or '(no structures)'}.</p>"
            + _table_html(table.reindex(columns=PAGE_COLUMNS), "structures"))  # fmt: skip
    return Section("Structures", body), tables


def _correlation_section(page: _Page, table: pd.DataFrame) -> Section | None:
    rows = usable(table)
    if len(rows) < MIN_CORRELATION_ROWS:
        page.cannot.append(f"correlations: {len(rows)} structures with D (need {MIN_CORRELATION_ROWS})")
        return None
    corr = correlations(rows)
    corr.to_csv(page.out_dir / "correlations.csv", index=False)
    heatmap = ""
    if corr["pearson_r"].notna().any():
        caption = "Correlation of each descriptor with D (average and maximum direction)"
        heatmap = page.figure(figures.correlation_heatmap(corr, page.figure_dir), caption)
    return Section("Correlations with D", heatmap + _table_html(corr, "correlations", digits=3))


def _model_sections(page: _Page, table: pd.DataFrame, n_top: int) -> tuple[Section | None, str, list[Path]]:
    """Train, score and save the D models; the ranking of the structures without MD by the phonon-only one."""
    paths, body, ranking_html = [], "", ""
    for include_structure, stem in [(False, "diffusion_model"), (True, "diffusion_model_with_structure")]:
        try:
            model = train_diffusion_models(table, include_structure=include_structure)
        except NotEnoughData as error:
            page.cannot.append(f"D model ({'phonon + structural' if include_structure else 'phonon'} descriptors): {error}")
            continue
        paths.append(model.save(page.out_dir / f"{stem}.joblib"))
        scores = pd.DataFrame([{"model": s.name, "R2 (grouped CV)": s.r2, "MAE log10 D": s.mae_log10,
                                "top features": ", ".join(f"{k} {v:.2f}" for k, v in sorted(s.feature_importances.items(), key=lambda kv: -kv[1])[:4])}
                               for s in model.scores.values()])  # fmt: skip
        body += (f"<h3>{'Phonon and structural' if include_structure else 'Phonon'} descriptors → log10 D "
                 f"({model.n_structures} structures, {model.n_systems} chemical systems, {model.n_folds} folds by system; "
                 f"<a href='{stem}.joblib'>{stem}.joblib</a>, best: {model.best})</h3>" + _table_html(scores, digits=3))  # fmt: skip
        if not include_structure:
            ranking = rank_candidates(model, table[table["D_avg_A2_per_ps"].isna()])
            ranked = ranking[ranking["rank"].notna()].head(n_top)
            ranking_html = "<h3>Most promising without MD yet (predicted from phonon descriptors)</h3>" + _table_html(ranked, "predicted")
    section = Section("Predicting D from lattice dynamics", body) if body else None
    return section, ranking_html, paths


def _scatter_figures(page: _Page, table: pd.DataFrame) -> list[str]:
    rows = usable(table)
    plots = [(figures.d_vs_msd, "D against the Na phonon MSD at the phonon temperature", "msd_na_avg_A2"),
             (figures.d_vs_vdos_center, "D against the Na VDOS centre from MD, coloured by centre / acoustic cutoff", "na_vdos_center_over_acoustic_cutoff"),
             (figures.d_vs_acoustic_cutoff, "D against the acoustic cutoff frequency", "acoustic_cutoff_thz")]  # fmt: skip
    parts = []
    for plot, caption, needs in plots:
        if pd.to_numeric(rows[needs], errors="coerce").notna().any():
            parts.append(page.figure(plot(table, page.figure_dir), caption))
        else:
            page.cannot.append(f"figure '{caption}': no structure with D and {needs}")
    return parts


def _dispersion_figures(page: _Page, session: Session, table: pd.DataFrame, n_dispersions: int) -> list[str]:
    """Both dispersion figures of the fastest structures (or, before any MD, the stable ones with the largest
    Na MSD), rebuilt from the stored force constants. A structure that cannot be drawn is listed, not fatal."""
    shown = _top(table, n_dispersions)
    if shown.empty:
        stable = table[table["dynamically_stable"].eq(True)]
        shown = stable.sort_values("msd_na_avg_A2", ascending=False).head(n_dispersions)
    if shown.empty:
        page.cannot.append("dispersions: no dynamically stable structure with phonons")
        return []
    summaries = _summaries(session, shown["candidate_id"].tolist())
    parts = []
    for _, row in shown.iterrows():
        cid, formula = row["candidate_id"], row["formula"]
        phonon = _phonon_output(session, cid)
        if phonon is None or cid not in summaries:
            page.cannot.append(f"dispersion of {cid}: no stored force constants")
            continue
        output = phonon["output"]
        try:
            ph = phonopy_from_output(Structure.from_dict(summaries[cid]["relaxed_structure"]), output)
            temperature = output["descriptors"]["temperature_K"]
            band = band_mode_data(ph, temperature_k=temperature)
        except ValueError as error:
            page.cannot.append(f"dispersion of {cid}: {error}")
            continue
        modes = ModeData.model_validate(output["mode_data"])
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in cid)
        parts.append(page.figure(figures.dispersion_by_na_msd(band, modes, formula, temperature, page.figure_dir, f"dispersion_msd_{stem}"),
                                 f"{cid}: dispersion coloured by mode Na MSD, participation ratio"))  # fmt: skip
        cutoff, na_center = output["descriptors"]["acoustic_cutoff_thz"], output["descriptors"]["na_pdos_center_thz"]
        parts.append(page.figure(figures.dispersion_by_coupling(band, modes, formula, cutoff, na_center, page.figure_dir, f"dispersion_coupling_{stem}"),
                                 f"{cid}: dispersion coloured by Na-host coupling, partial VDOS"))  # fmt: skip
    return parts


def _md_figures(page: _Page, session: Session, table: pd.DataFrame) -> list[str]:
    """MSD(t) of the fastest structures' reference runs; Arrhenius plots of every temperature series."""
    parts, curves = [], {}
    for _, row in _top(table, 6).iterrows():
        temperature = row["md_temperature_K"] if pd.notna(row["md_temperature_K"]) else None
        curve = _md_curves(session, row["candidate_id"], temperature)
        if curve is not None:
            curves[f"{row['candidate_id']} ({row['formula']}), D = {row['D_avg_A2_per_ps']:.3g} Å²/ps"] = curve
    if curves:
        parts.append(page.figure(figures.msd_curves(curves, page.figure_dir), "MSD(t) from MD (Na per direction; every element's total)"))
    else:
        page.cannot.append("MSD(t) curves: no MD trajectory analysed")
    series = {}
    criteria = {"name": SUMMARY_JOB_NAME, "output.candidate_id": {"$in": table["candidate_id"].tolist()}, "output.transport.arrhenius": {"$ne": None}}
    for doc in session.job_store.query(criteria, properties=["output.candidate_id", "output.formula", "output.transport.arrhenius"]):
        output = doc["output"]
        series[f"{output['candidate_id']} ({output['formula']})"] = output["transport"]["arrhenius"]
    if series:
        parts.append(page.figure(figures.arrhenius_plot(series, page.figure_dir), "Arrhenius plot of D over the MD temperature series"))
    else:
        page.cannot.append("Arrhenius plot: no structure has MD at two or more temperatures (submit with --md-temperatures)")
    return parts


def _failures_section(session: Session, table: pd.DataFrame, campaign_id: str | None) -> Section:
    """Failed jobs, rejected inputs, structures without MD and melted runs, each with its reason."""
    failures = failures_table(session).drop(columns=["traceback"])
    rejected = rejections_table(session)
    if campaign_id is not None:
        failures = failures[failures["candidate_id"].isin(table["candidate_id"])]
        rejected = rejected[rejected["campaign_id"] == campaign_id]
    skipped = table[table["md_skipped_reason"].notna()][["candidate_id", "formula", "md_skipped_reason"]]
    melted = table[table["melted"].eq(True)][["candidate_id", "formula", "D_avg_A2_per_ps"]]
    return Section("Failures and exclusions", (
        f"<h3>Failed jobs ({len(failures)})</h3>" + _table_html(failures, "failures")
        + f"<h3>Rejected at submission ({len(rejected)})</h3>" + _table_html(rejected, "rejected")
        + f"<h3>No MD ({len(skipped)})</h3>" + _table_html(skipped)
        + f"<h3>Melted in MD, excluded from the statistics ({len(melted)})</h3>" + _table_html(melted)
    ))  # fmt: skip


def _provenance_section(page: _Page, table: pd.DataFrame) -> Section:
    durations = pd.to_numeric(table["md_production_ps"], errors="coerce").dropna()
    if len(durations) and durations.min() < MIN_MELT_FILTER_DURATION_PS:
        page.cannot.append(f"converged D: MD production runs of {durations.min():g} ps; below ~{MIN_MELT_FILTER_DURATION_PS:g} ps a fit "
                           "reads the vibrational MSD plateau, not diffusion (the paper preset runs 60 ps)")  # fmt: skip
    provenance = table[["model", "phonon_model", "fc_method", "md_model", "md_engine", "md_preset", "md_friction_per_ps"]].drop_duplicates()
    if len(provenance) > 1:
        page.cannot.append("mixed provenance: the rows were computed with different settings (see Provenance); compare within one")
    return Section("Provenance", _table_html(provenance.reset_index(drop=True)))


def build_report(
    session: Session, out_dir: str | Path, campaign_id: str | None = None, n_top: int = 10, n_dispersions: int = 3
) -> Report:
    """Write ``out_dir/index.html`` with its tables, figures and models beside it."""
    page = _Page(Path(out_dir))
    page.out_dir.mkdir(parents=True, exist_ok=True)
    session.job_store.connect()
    results = results_table(session)
    if campaign_id is not None:
        known = sorted(results["campaign_id"].dropna().unique())
        if campaign_id not in known:
            raise ValueError(f"campaign {campaign_id!r} not in the store; campaigns: {', '.join(known) or 'none'}")
        results = results[results["campaign_id"] == campaign_id].reset_index(drop=True)
    table = dataset(results)

    provenance = _provenance_section(page, table)
    structures, tables = _structures_section(page, table)
    top = _top(table, n_top)
    if top.empty:
        page.cannot.append("top candidates: no structure has a diffusion coefficient from MD yet")
    correlation = _correlation_section(page, table)
    models, ranking_html, model_paths = _model_sections(page, table, n_top)
    candidates = Section("Top candidates", "<h3>Fastest measured (D average, MD)</h3>"
                         + _table_html(top.reindex(columns=PAGE_COLUMNS[:12]), "top") + ranking_html)  # fmt: skip
    figure_html = _scatter_figures(page, table) + _dispersion_figures(page, session, table, n_dispersions) + _md_figures(page, session, table)
    drawn = Section("Figures", "".join(figure_html) or "<p class='note'>No figure could be drawn yet.</p>")
    sections = [provenance, structures, candidates, correlation, models, drawn, _failures_section(session, table, campaign_id)]
    path = page.out_dir / "index.html"
    path.write_text(_page_html(campaign_id, [s for s in sections if s is not None], page.cannot, len(page.figures) // 2))
    return Report(path, tables, model_paths, page.figures, page.cannot)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eef; cursor: pointer; position: sticky; top: 0; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
td:nth-child(-n+2) { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
.note, .cannot li { color: #8a4b00; }
"""

# Sorting by a click on a header; '#sort=COLUMN:desc' in the address sorts on load (and lets a test drive it).
# On load the page records how many figures decoded, so that a headless browser can check them.
SCRIPT = """
function sortTable(table, column, descending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = row => { const cell = row.cells[column]; const v = cell.dataset.value;
                       return v !== "" ? parseFloat(v) : cell.textContent; };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    const missing = (x === "") - (y === "");  // blanks last either way
    if (missing) return missing;
    const order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order; });
  rows.forEach(row => body.appendChild(row));
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
    th.classList.remove("sorted-asc", "sorted-desc");
    if (i === column) th.classList.add(descending ? "sorted-desc" : "sorted-asc"); });
}
document.querySelectorAll("table.sortable").forEach(table => {
  Array.from(table.tHead.rows[0].cells).forEach((th, i) => th.addEventListener("click", () =>
    sortTable(table, i, th.classList.contains("sorted-asc"))));
});
window.addEventListener("load", () => {
  const match = decodeURIComponent(location.hash).match(/^#sort=([^:]+)(?::(asc|desc))?$/);
  if (match) {
    const table = document.getElementById("structures");
    const column = table ? Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent === match[1]) : -1;
    if (column >= 0) sortTable(table, column, match[2] === "desc");
  }
  const images = Array.from(document.images);
  document.body.dataset.figuresLoaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.figuresBroken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
});
"""


def _page_html(campaign_id: str | None, sections: list[Section], cannot: list[str], n_figures: int) -> str:
    title = f"na_lattice_flows report: {campaign_id or 'all campaigns'}"
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cannot_html = ("<h2>Not computed</h2><ul class='cannot'>" + "".join(f"<li>{html.escape(c)}</li>" for c in cannot) + "</ul>") if cannot else ""
    parts = [f"<h2>{html.escape(s.title)}</h2>{s.body}" for s in sections]
    data = json.dumps({"cannot_compute": cannot}).replace("</", "<\\/")  # no early end of the script element
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body data-figures-expected='{n_figures}'>"
        f"<h1>{html.escape(title)}</h1><p>Written {created}. Diffusion coefficients D in Å²/ps; D columns: "
        f"{', '.join(D_COLUMNS)}. Statistics use structures with D from MD that did not melt.</p>"
        + cannot_html + "".join(parts) + f"<script>{SCRIPT}</script>"
        + f"<script type='application/json' id='report-data'>{data}</script></body></html>"
    )  # fmt: skip
