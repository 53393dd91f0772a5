"""The report's HTML: one self-contained page (figures embedded as base64 PNG, interactive ones as inline plotly,
tables sortable by a click on a header and filtered by the box above them; ``#sort=COLUMN:desc`` and
``#filter=TERMS`` in the address apply to the structures table on load). Plain HTML and a few lines of script,
no framework: the page must open from a file on a cluster's login node."""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from na_lattice_flows.analysis.dataset import D_COLUMNS


@dataclass
class Section:
    """One titled section of the report page."""

    title: str
    body: str


def figure_html(paths: list[Path], caption: str, out_dir: Path) -> str:
    """A figure embedded in the page (PNG as data URI) with a link to its SVG beside the page."""
    png, svg = paths
    encoded = base64.b64encode(png.read_bytes()).decode()
    return (
        f'<figure><img data-figure="{html.escape(png.stem)}" alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
        f'<figcaption>{html.escape(caption)} (<a href="{svg.relative_to(out_dir).as_posix()}">SVG</a>)</figcaption></figure>'
    )


def cell_text(value, digits: int) -> tuple[str, str]:
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


def table_html(table: pd.DataFrame, table_id: str | None = None, digits: int = 4) -> str:
    """An HTML table whose header cells sort it (script below); numbers carry their value for sorting. A row
    whose ``transport_converged`` is False is greyed, its transport figures starred: too short a run to read."""
    if table.empty:
        return "<p class='note'>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    unconverged = (
        table["transport_converged"].eq(False).tolist()
        if "transport_converged" in table
        else [False] * len(table)
    )
    transport = [c in UNCONVERGED_STARRED for c in table.columns]
    rows = []
    for row, greyed in zip(table.itertuples(index=False), unconverged, strict=True):
        cells = [cell_text(value, digits) for value in row]
        if greyed:
            cells = [
                (f"{text}*" if starred and text else text, key)
                for (text, key), starred in zip(cells, transport, strict=True)
            ]
        rows.append(
            (
                "<tr class='unconverged' title='run too short for converged transport figures'>"
                if greyed
                else "<tr>"
            )
            + "".join(
                f'<td data-value="{html.escape(key)}">{html.escape(text)}</td>'
                for text, key in cells
            )
            + "</tr>"
        )
    ident = f' id="{table_id}"' if table_id else ""
    return f'<table class="sortable"{ident}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eef; cursor: pointer; position: sticky; top: 0; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
td:nth-child(-n+2) { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
div.interactive { display: inline-block; margin: 0.5em; border: 1px solid #ddd; vertical-align: top; }
input.filter { width: 42em; max-width: 100%; margin-top: 0.5em; font-size: 12px; }
.note, .cannot li { color: #8a4b00; }
tr.unconverged td { color: #999; }
"""
# the columns starred in a greyed (unconverged) row
UNCONVERGED_STARRED = {
    "D_avg_A2_per_ps",
    "D_max_A2_per_ps",
    "D_kinisi_A2_per_ps",
    "haven_ratio",
    "conductivity_mS_per_cm",
    "melted",
}


# Sorting by a click on a header; a filter box above each table: words match any cell, COLUMN>x, COLUMN<x,
# COLUMN>=x, COLUMN<=x and COLUMN=x compare one column (all terms must hold). '#sort=COLUMN:desc&filter=TERMS' in
# the address applies both to the structures table on load (and lets a test drive them); a click on a point of an
# interactive figure filters the structures table to that structure. On load the page records how many figures
# decoded and how many interactive plots drew, so that a headless browser can check them.
SCRIPT = """
function filterTable(table, text) {
  const heads = Array.from(table.tHead.rows[0].cells).map(th => th.textContent);
  const terms = text.trim().split(/\\s+/).filter(Boolean);
  let shown = 0;
  Array.from(table.tBodies[0].rows).forEach(row => {
    const keep = terms.every(term => {
      const m = term.match(/^([^<>=]+)(<=|>=|<|>|=)(.*)$/);
      if (m && heads.includes(m[1])) {
        const cell = row.cells[heads.indexOf(m[1])];
        const value = cell.dataset.value !== "" ? parseFloat(cell.dataset.value) : NaN, bound = parseFloat(m[3]);
        if (m[2] === "=") return cell.textContent.toLowerCase() === m[3].toLowerCase() || value === bound;
        if (isNaN(value) || isNaN(bound)) return false;
        return {"<": value < bound, ">": value > bound, "<=": value <= bound, ">=": value >= bound}[m[2]];
      }
      return row.textContent.toLowerCase().includes(term.toLowerCase());
    });
    row.style.display = keep ? "" : "none";
    shown += keep;
  });
  table.dataset.rowsShown = shown;
}
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
  const box = document.createElement("input");
  box.type = "search"; box.className = "filter";
  box.placeholder = "filter: words, or COLUMN>x, COLUMN<x, COLUMN=x (e.g. dynamically_stable=True msd_na_avg_A2>0.2)";
  box.addEventListener("input", () => filterTable(table, box.value));
  table.parentNode.insertBefore(box, table);
  table.dataset.rowsShown = table.tBodies[0].rows.length;
});
function filterStructures(text) {
  const table = document.getElementById("structures");
  if (!table) return;
  table.previousElementSibling.value = text;
  filterTable(table, text);
}
window.addEventListener("load", () => {
  const parameters = new URLSearchParams(location.hash.slice(1));
  const table = document.getElementById("structures");
  const sort = (parameters.get("sort") || "").match(/^([^:]+)(?::(asc|desc))?$/);
  if (sort && table) {
    const column = Array.from(table.tHead.rows[0].cells).findIndex(th => th.textContent === sort[1]);
    if (column >= 0) sortTable(table, column, sort[2] === "desc");
  }
  if (parameters.get("filter")) filterStructures(parameters.get("filter"));
  const plots = Array.from(document.querySelectorAll(".js-plotly-plot"));
  plots.forEach(plot => plot.on("plotly_click", data => {
    filterStructures("candidate_id=" + data.points[0].customdata[0]);
    document.getElementById("structures").scrollIntoView();
  }));
  document.body.dataset.plotsDrawn = plots.filter(plot => plot.querySelector(".main-svg")).length;
  document.body.dataset.loadMs = Math.round(performance.now());  // from navigation start to here
  const images = Array.from(document.images);
  document.body.dataset.figuresLoaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.figuresBroken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
});
"""


def page_html(
    campaign_id: str | None,
    sections: list[Section],
    cannot: list[str],
    n_figures: int,
    head: str = "",
) -> str:
    """The page; ``head``: what goes into <head> beside the style (the plotly library when a section has plots)."""
    title = f"na_lattice_flows report: {campaign_id or 'all campaigns'}"
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cannot_html = (
        (
            "<h2>Not computed</h2><ul class='cannot'>"
            + "".join(f"<li>{html.escape(c)}</li>" for c in cannot)
            + "</ul>"
        )
        if cannot
        else ""
    )
    parts = [f"<h2>{html.escape(s.title)}</h2>{s.body}" for s in sections]
    # no early end of the script element
    data = json.dumps({"cannot_compute": cannot}).replace("</", "<\\/")
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style>{head}</head><body data-figures-expected='{n_figures}'>"
        f"<h1>{html.escape(title)}</h1><p>Written {created}. Diffusion coefficients D in Å²/ps; D columns: "
        f"{', '.join(D_COLUMNS)}. Statistics use structures with D from MD that did not melt.</p>"
        + cannot_html
        + "".join(parts)
        + f"<script>{SCRIPT}</script>"
        + f"<script type='application/json' id='report-data'>{data}</script></body></html>"
    )


def disputed_section(table: pd.DataFrame) -> Section | None:
    """The structures whose stability the committee of force fields disputes (``submit --committee``), with each
    model's verdict: the ones to send to DFT phonons first. None when no committee judged any structure."""
    judged = table[table["disputed"].notna()] if "disputed" in table else table.iloc[:0]
    if judged.empty:
        return None
    disputed = judged[judged["disputed"].astype(bool)][
        ["candidate_id", "formula", "dynamically_stable", "dispute", "committee_verdicts"]
    ]
    return Section(
        "Disputed stability verdicts",
        (
            f"<p>{len(disputed)} of {len(judged)} structures judged by the committee are disputed: its force fields disagree "
            "on their stability (or their lowest frequencies lie far apart). Send them to DFT phonons first "
            "(<code>na-flows validate submit --disputed --dft-phonons MODEL</code>).</p>"
            + table_html(disputed.reset_index(drop=True), "disputed")
        ),
    )
