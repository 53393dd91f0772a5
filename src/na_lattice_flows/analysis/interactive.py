"""Interactive figures for campaigns of hundreds of structures (plotly): hovering a point shows its candidate id,
formula and values, clicking it filters the structures table to that structure, and only the top candidates
carry a label. plotly.js is inlined once (~5 MB), so the page stays one file that opens offline on a cluster's
login node; the static PNG/SVG figures are still written beside it."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from na_lattice_flows.analysis.dataset import usable

TOP_LABELLED = 8  # labels beyond this cover the points; hovering names every point
STABLE_COLOURS = {True: "#1f77b4", False: "#d62728"}


def plotly_library() -> str:
    """The plotly.js bundle as an inline script element (once per page)."""
    import plotly.offline

    return f"<script>{plotly.offline.get_plotlyjs()}</script>"


def _trace(
    rows: pd.DataFrame,
    x: str,
    y: str,
    labels: tuple[str, str],
    name: str,
    colour: str | None = None,
) -> dict:
    hover = (
        f"<b>%{{customdata[0]}}</b> %{{customdata[1]}}<br>{html.escape(labels[0])}: %{{x:.4g}}"
        f"<br>{html.escape(labels[1])}: %{{y:.4g}}<extra>{html.escape(name)}</extra>"
    )
    marker = {
        "size": 7,
        "line": {"width": 0.5, "color": "black"},
        **({"color": colour} if colour else {}),
    }
    return {
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": rows[x].astype(float).tolist(),
        "y": rows[y].astype(float).tolist(),
        "customdata": rows[["candidate_id", "formula"]].astype(str).to_numpy().tolist(),
        "hovertemplate": hover,
        "marker": marker,
    }


def scatter_html(
    traces: list[dict],
    top: pd.DataFrame,
    x: str,
    y: str,
    labels: tuple[str, str],
    title: str,
    div_id: str,
    log_y: bool = False,
) -> str:
    """One plotly scatter as a ``<div>`` (the library comes once per page, from ``plotly_library``), the rows
    of ``top`` labelled with their formula."""
    import plotly.graph_objects as go

    figure = go.Figure([go.Scatter(**trace) for trace in traces])
    for _, row in top.iterrows():
        # plotly places annotations on a log axis in decades
        position = np.log10(row[y]) if log_y else row[y]
        figure.add_annotation(
            x=row[x],
            y=position,
            text=html.escape(str(row["formula"])),
            showarrow=True,
            arrowhead=0,
            ax=18,
            ay=-18,
            font={"size": 10},
        )
    figure.update_layout(
        title={"text": html.escape(title), "font": {"size": 13}},
        xaxis_title=labels[0],
        yaxis_title=labels[1],
        yaxis_type="log" if log_y else "linear",
        width=560,
        height=420,
        template="simple_white",
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False}
    )


def _numeric(table: pd.DataFrame, *columns: str) -> pd.DataFrame:
    values = table[list(columns)].apply(pd.to_numeric, errors="coerce")
    rows = table[values.notna().all(axis=1)].copy()
    rows[list(columns)] = values.loc[rows.index]
    return rows


def stability_map_html(table: pd.DataFrame) -> str | None:
    """Na MSD against the acoustic cutoff for every structure with phonons, stable and unstable apart; the
    labelled ones: the stable structures with the largest Na MSD (the screen's candidates for MD)."""
    x, y = "acoustic_cutoff_thz", "msd_na_avg_A2"
    rows = _numeric(table, x, y)
    if rows.empty:
        return None
    labels = ("acoustic cutoff (THz)", "Na phonon MSD, average (Å²)")
    stable = rows["dynamically_stable"].eq(True)
    traces = [
        _trace(
            rows[stable == flag],
            x,
            y,
            labels,
            "stable" if flag else "unstable",
            STABLE_COLOURS[flag],
        )
        for flag in (True, False)
    ]
    top = rows[stable].nlargest(TOP_LABELLED, y)
    return scatter_html(
        traces, top, x, y, labels, f"Lattice dynamics of {len(rows)} structures", "map-stability"
    )


def diffusion_figures_html(table: pd.DataFrame) -> list[str]:
    """D against the Na MSD, the Na VDOS centre and the acoustic cutoff, for the structures with D (not
    melted); the fastest labelled."""
    parts = []
    for x, label, div_id in [
        ("msd_na_avg_A2", "Na phonon MSD, average (Å²)", "d-vs-msd"),
        ("na_vdos_center_thz", "Na VDOS centre from MD (THz)", "d-vs-vdos"),
        ("acoustic_cutoff_thz", "acoustic cutoff (THz)", "d-vs-cutoff"),
    ]:
        rows = _numeric(usable(table), x, "D_avg_A2_per_ps")
        rows = rows[rows["D_avg_A2_per_ps"] > 0]
        if rows.empty:
            continue
        labels = (label, "D average (Å²/ps)")
        top = rows.nlargest(TOP_LABELLED, "D_avg_A2_per_ps")
        parts.append(
            scatter_html(
                [_trace(rows, x, "D_avg_A2_per_ps", labels, "D from MD")],
                top,
                x,
                "D_avg_A2_per_ps",
                labels,
                f"D against {label.split(' (')[0]} ({len(rows)} structures)",
                div_id,
                log_y=True,
            )
        )
    return parts


def interactive_html(table: pd.DataFrame) -> str:
    """Every interactive figure the table allows, '' when none."""
    parts = [part for part in [stability_map_html(table), *diffusion_figures_html(table)] if part]
    return "".join(f"<div class='interactive'>{part}</div>" for part in parts)
