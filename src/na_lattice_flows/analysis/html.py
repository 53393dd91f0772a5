"""The report's HTML: one self-contained page (figures embedded as base64 PNG, tables sortable by a click on a
header, with ``#sort=COLUMN:desc`` honoured on load). Plain HTML and a few lines of script, no framework: the
page must open from a file on a cluster's login node."""

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
    title: str
    body: str

def figure_html(paths: list[Path], caption: str, out_dir: Path) -> str:
    png, svg = paths
    encoded = base64.b64encode(png.read_bytes()).decode()
    return (f'<figure><img data-figure="{html.escape(png.stem)}" alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f'<figcaption>{html.escape(caption)} (<a href="{svg.relative_to(out_dir).as_posix()}">SVG</a>)</figcaption></figure>')  # fmt: skip


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
    """An HTML table whose header cells sort it (script below); numbers carry their value for sorting."""
    if table.empty:
        return "<p class='note'>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for row in table.itertuples(index=False):
        cells = (cell_text(value, digits) for value in row)
        rows.append("<tr>" + "".join(f'<td data-value="{html.escape(key)}">{html.escape(text)}</td>' for text, key in cells) + "</tr>")
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


def page_html(campaign_id: str | None, sections: list[Section], cannot: list[str], n_figures: int) -> str:
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
