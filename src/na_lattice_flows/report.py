"""`na-flows report`: one self-contained HTML page per campaign (or every campaign) from the stores: the
dataset table (also written as CSV and Parquet), correlations, the D model, the figures, the top candidates and
every failure with its reason. Each section that lacks the data it needs says so instead of failing."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from phonopy import Phonopy
from pymatgen.core import Structure
from pymatgen.io.phonopy import get_phonopy_structure

from na_lattice_flows import figures
from na_lattice_flows.analysis import D_COLUMNS, correlations, dataset, export_table
from na_lattice_flows.ml import NotEnoughData, rank_candidates, train_diffusion_models
from na_lattice_flows.phonons import ModeData, band_mode_data
from na_lattice_flows.results import failures_table, rejections_table, results_table
from na_lattice_flows.stores import Session
from na_lattice_flows.transport import MIN_MELT_FILTER_DURATION_PS
from na_lattice_flows.workflows import SUMMARY_JOB_NAME

PAGE_COLUMNS = [
    "candidate_id", "formula", "state", "dynamically_stable", "D_avg_A2_per_ps", "D_max_A2_per_ps", "melted",
    "msd_na_avg_A2", "msd_na_max_A2", "acoustic_cutoff_thz", "na_pdos_center_thz", "na_vdos_center_thz",
    "haven_ratio", "activation_energy_eV", "model", "fc_method", "md_preset", "md_engine", "campaign_id",
]  # fmt: skip
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


def _table_html(table: pd.DataFrame, table_id: str | None = None, digits: int = 4) -> str:
    """An HTML table whose header cells sort it (script below); numbers carry their value for sorting."""
    if table.empty:
        return "<p class='note'>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for _, row in table.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (bool, np.bool_)) or value is None or (isinstance(value, float) and np.isnan(value)):
                text, key = ("" if value is None or isinstance(value, float) else str(bool(value))), ""
            elif isinstance(value, (int, float, np.integer, np.floating)):
                text, key = f"{value:.{digits}g}", repr(float(value))
            else:
                text, key = str(value), ""
            cells.append(f'<td data-value="{html.escape(key)}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
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
    usable = table[table["usable_for_D"].astype(bool)]
    return usable.sort_values("D_avg_A2_per_ps", ascending=False).head(n)


def build_report(
    session: Session, out_dir: str | Path, campaign_id: str | None = None, n_top: int = 10, n_dispersions: int = 3
) -> Report:
    """Write ``out_dir/index.html`` with its tables, figures and models beside it."""
    out_dir = Path(out_dir)
    figure_dir = out_dir / "figures"
    out_dir.mkdir(parents=True, exist_ok=True)
    session.job_store.connect()
    results = results_table(session)
    if campaign_id is not None:
        known = sorted(results["campaign_id"].dropna().unique())
        if campaign_id not in known:
            raise ValueError(f"campaign {campaign_id!r} not in the store; campaigns: {', '.join(known) or 'none'}")
        results = results[results["campaign_id"] == campaign_id].reset_index(drop=True)
    table = dataset(results)
    cannot: list[str] = []
    written_figures: list[Path] = []
    sections: list[Section] = []

    # the dataset, one file pair per campaign
    tables = []
    for campaign, rows in table.groupby(table["campaign_id"].fillna("no-campaign")):
        tables += [export_table(rows, out_dir / "tables" / f"{campaign}.csv"), export_table(rows, out_dir / "tables" / f"{campaign}.parquet")]
    usable = table[table["usable_for_D"].astype(bool)]
    links = " ".join(f'<a href="{p.relative_to(out_dir).as_posix()}">{p.name}</a>' for p in tables)
    sections.append(Section("Structures", (
        f"<p>{len(table)} structures, {int(table['dynamically_stable'].eq(True).sum())} dynamically stable, {len(usable)} with a "
        f"diffusion coefficient from MD (not melted). Every column: {links or '(no structures)'}.</p>"
        + _table_html(table.reindex(columns=PAGE_COLUMNS), "structures")
    )))  # fmt: skip

    # top candidates: measured, then predicted for those without MD
    top = _top(table, n_top)
    body = "<h3>Fastest measured (D average, MD)</h3>" + _table_html(top.reindex(columns=PAGE_COLUMNS[:12]), "top")
    if top.empty:
        cannot.append("top candidates: no structure has a diffusion coefficient from MD yet")

    # correlations
    if len(usable) >= MIN_CORRELATION_ROWS:
        corr = correlations(usable)
        corr.to_csv(out_dir / "correlations.csv", index=False)
        if corr["pearson_r"].notna().any():
            paths = figures.correlation_heatmap(corr, figure_dir)
            written_figures += paths
            heatmap = _figure_html(paths, "Correlation of each descriptor with D (average and maximum direction)", out_dir)
        else:
            heatmap = ""
        sections.append(Section("Correlations with D", heatmap + _table_html(corr, "correlations", digits=3)))
    else:
        cannot.append(f"correlations: {len(usable)} structures with D (need {MIN_CORRELATION_ROWS})")

    # the screening accelerator
    model_paths, ml_body = [], ""
    for include_structure, stem in [(False, "diffusion_model"), (True, "diffusion_model_with_structure")]:
        try:
            model = train_diffusion_models(table, include_structure=include_structure)
        except NotEnoughData as error:
            cannot.append(f"D model ({'phonon + structural' if include_structure else 'phonon'} descriptors): {error}")
            continue
        model_paths.append(model.save(out_dir / f"{stem}.joblib"))
        scores = pd.DataFrame([{"model": s.name, "R2 (grouped CV)": s.r2, "MAE log10 D": s.mae_log10,
                                "top features": ", ".join(f"{k} {v:.2f}" for k, v in sorted(s.feature_importances.items(), key=lambda kv: -kv[1])[:4])}
                               for s in model.scores.values()])  # fmt: skip
        ml_body += (f"<h3>{'Phonon and structural' if include_structure else 'Phonon'} descriptors → log10 D "
                    f"({model.n_structures} structures, {model.n_systems} chemical systems, {model.n_folds} folds by system; "
                    f"<a href='{stem}.joblib'>{stem}.joblib</a>, best: {model.best})</h3>" + _table_html(scores, digits=3))  # fmt: skip
        if not include_structure:
            ranking = rank_candidates(model, table[table["D_avg_A2_per_ps"].isna()])
            ranked = ranking[ranking["rank"].notna()].head(n_top)
            body += "<h3>Most promising without MD yet (predicted from phonon descriptors)</h3>" + _table_html(ranked, "predicted")
    if ml_body:
        sections.append(Section("Predicting D from lattice dynamics", ml_body))
    sections.insert(1, Section("Top candidates", body))

    # figures of the whole campaign
    scatter = [(figures.d_vs_msd, "D against the Na phonon MSD at the phonon temperature", ["msd_na_avg_A2"]),
               (figures.d_vs_vdos_center, "D against the Na VDOS centre from MD, coloured by centre / acoustic cutoff", ["na_vdos_center_over_acoustic_cutoff"]),
               (figures.d_vs_acoustic_cutoff, "D against the acoustic cutoff frequency", ["acoustic_cutoff_thz"])]  # fmt: skip
    figure_html = []
    for plot, caption, needs in scatter:
        if usable[needs].apply(pd.to_numeric, errors="coerce").notna().all(axis=1).any():
            paths = plot(table, figure_dir)
            written_figures += paths
            figure_html.append(_figure_html(paths, caption, out_dir))
        else:
            cannot.append(f"figure '{caption}': no structure with D and {needs[0]}")

    shown = _top(table, n_dispersions)
    if shown.empty:  # no MD yet: show the stable structures with the largest Na MSD instead
        stable = table[table["dynamically_stable"].eq(True)]
        shown = stable.sort_values("msd_na_avg_A2", ascending=False).head(n_dispersions)
    summaries = _summaries(session, shown["candidate_id"].tolist())
    for _, row in shown.iterrows():
        cid = row["candidate_id"]
        phonon = _phonon_output(session, cid)
        if phonon is None or cid not in summaries:
            cannot.append(f"dispersion of {cid}: no stored force constants")
            continue
        output = phonon["output"]
        ph = phonopy_from_output(Structure.from_dict(summaries[cid]["relaxed_structure"]), output)
        descriptors = output["descriptors"]
        band = band_mode_data(ph, temperature_k=descriptors["temperature_K"])
        modes = ModeData.model_validate(output["mode_data"])
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in cid)
        for paths, caption in [
            (figures.dispersion_by_na_msd(band, modes, row["formula"], descriptors["temperature_K"], figure_dir, f"dispersion_msd_{safe}"),
             f"{cid}: dispersion coloured by mode Na MSD, participation ratio"),
            (figures.dispersion_by_coupling(band, modes, row["formula"], descriptors["acoustic_cutoff_thz"], descriptors["na_pdos_center_thz"],
                                            figure_dir, f"dispersion_coupling_{safe}"),
             f"{cid}: dispersion coloured by Na-host coupling, partial VDOS"),
        ]:  # fmt: skip
            written_figures += paths
            figure_html.append(_figure_html(paths, caption, out_dir))
    if shown.empty:
        cannot.append("dispersions: no dynamically stable structure with phonons")

    curves = {}
    for _, row in _top(table, 6).iterrows():
        temperature = row["md_temperature_K"] if pd.notna(row["md_temperature_K"]) else None
        curve = _md_curves(session, row["candidate_id"], temperature)
        if curve is not None:
            curves[f"{row['candidate_id']} ({row['formula']}), D = {row['D_avg_A2_per_ps']:.3g} Å²/ps"] = curve
    if curves:
        paths = figures.msd_curves(curves, figure_dir)
        written_figures += paths
        figure_html.append(_figure_html(paths, "MSD(t) from MD (Na per direction; every element's total)", out_dir))
    else:
        cannot.append("MSD(t) curves: no MD trajectory analysed")

    series = {}
    for doc in session.job_store.query({"name": SUMMARY_JOB_NAME, "output.candidate_id": {"$in": table["candidate_id"].tolist()},
                                        "output.transport.arrhenius": {"$ne": None}},
                                       properties=["output.candidate_id", "output.formula", "output.transport.arrhenius"]):  # fmt: skip
        output = doc["output"]
        series[f"{output['candidate_id']} ({output['formula']})"] = output["transport"]["arrhenius"]
    if series:
        paths = figures.arrhenius_plot(series, figure_dir)
        written_figures += paths
        figure_html.append(_figure_html(paths, "Arrhenius plot of D over the MD temperature series", out_dir))
    else:
        cannot.append("Arrhenius plot: no structure has MD at two or more temperatures (submit with --md-temperatures)")
    sections.append(Section("Figures", "".join(figure_html) or "<p class='note'>No figure could be drawn yet.</p>"))

    # what went wrong, and why
    failures = failures_table(session).drop(columns=["traceback"])
    if campaign_id is not None:
        failures = failures[failures["candidate_id"].isin(table["candidate_id"])]
    rejected = rejections_table(session)
    if campaign_id is not None:
        rejected = rejected[rejected["campaign_id"] == campaign_id]
    skipped = table[table["md_skipped_reason"].notna()][["candidate_id", "formula", "md_skipped_reason"]]
    melted = table[table["melted"].eq(True)][["candidate_id", "formula", "D_avg_A2_per_ps"]]
    sections.append(Section("Failures and exclusions", (
        f"<h3>Failed jobs ({len(failures)})</h3>" + _table_html(failures, "failures")
        + f"<h3>Rejected at submission ({len(rejected)})</h3>" + _table_html(rejected, "rejected")
        + f"<h3>No MD ({len(skipped)})</h3>" + _table_html(skipped)
        + f"<h3>Melted in MD, excluded from the statistics ({len(melted)})</h3>" + _table_html(melted)
    )))  # fmt: skip

    durations = pd.to_numeric(table["md_production_ps"], errors="coerce").dropna()
    if len(durations) and durations.min() < MIN_MELT_FILTER_DURATION_PS:
        cannot.append(f"converged D: MD production runs of {durations.min():g} ps; below ~{MIN_MELT_FILTER_DURATION_PS:g} ps a fit reads the "
                      "vibrational MSD plateau, not diffusion (the paper preset runs 60 ps)")  # fmt: skip
    provenance = table[["model", "phonon_model", "fc_method", "md_model", "md_engine", "md_preset", "md_friction_per_ps"]].drop_duplicates()
    if len(provenance) > 1:
        cannot.append("mixed provenance: the rows were computed with different settings (see the table below); compare within one")
    sections.insert(0, Section("Provenance", _table_html(provenance.reset_index(drop=True))))
    page = _page(campaign_id, sections, cannot, len(written_figures) // 2)
    path = out_dir / "index.html"
    path.write_text(page)
    return Report(path, tables, model_paths, written_figures, cannot)


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


def _page(campaign_id: str | None, sections: list[Section], cannot: list[str], n_figures: int) -> str:
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
