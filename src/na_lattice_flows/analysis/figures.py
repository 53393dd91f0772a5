"""The figures a scientist reads a campaign by (paper Figs. 2-5, S10-S11), as PNG and SVG. Each function takes
plain data (the dataset table, per-mode data, MD curves) and returns the files it wrote; none reads a store."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless workers and CI
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from na_lattice_flows.analysis.dataset import usable  # noqa: E402
from na_lattice_flows.md.diffusion import BOLTZMANN_EV_PER_K  # noqa: E402
from na_lattice_flows.phonons.descriptors import BandModeData, ModeData  # noqa: E402

AXIS_COLOURS = ("tab:red", "tab:green", "tab:blue")
HOST_COLOURS = ("tab:purple", "tab:brown", "tab:olive", "tab:cyan", "tab:pink")
TOP_LABELLED = 8  # formula labels on the top candidates only: on every point of a campaign they cover the points


def save_figure(fig: plt.Figure, out_dir: Path, stem: str) -> list[Path]:
    """Save ``fig`` as PNG (for the page) and SVG with text kept as text (for editing); the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=100, bbox_inches="tight")
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text: editable, searchable
        fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _usable_with(table: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The usable rows that have every one of ``columns``."""
    rows = usable(table)
    values = rows[list(columns)].apply(pd.to_numeric, errors="coerce")
    return rows[values.notna().all(axis=1)]


def _label_points(ax, rows: pd.DataFrame, x: str, y: str) -> None:
    """The formula beside the ``TOP_LABELLED`` points of largest ``y`` (D, or the Na MSD)."""
    for _, row in (
        rows.assign(_y=pd.to_numeric(rows[y], errors="coerce"))
        .nlargest(TOP_LABELLED, "_y")
        .iterrows()
    ):
        ax.annotate(
            row["formula"], (row[x], row[y]), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )


def stability_map(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Na phonon MSD against the acoustic cutoff of every structure with phonons, stable and unstable apart;
    the stable ones of largest Na MSD labelled (the screen's candidates for MD)."""
    values = table[["acoustic_cutoff_thz", "msd_na_avg_A2"]].apply(pd.to_numeric, errors="coerce")
    rows = table[values.notna().all(axis=1)].assign(
        acoustic_cutoff_thz=values["acoustic_cutoff_thz"], msd_na_avg_A2=values["msd_na_avg_A2"]
    )
    stable = rows["dynamically_stable"].eq(True)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for flag, colour, label in [(True, "tab:blue", "stable"), (False, "tab:red", "unstable")]:
        part = rows[stable == flag]
        ax.scatter(
            part["acoustic_cutoff_thz"],
            part["msd_na_avg_A2"],
            s=18,
            c=colour,
            edgecolors="k",
            linewidths=0.3,
            label=f"{label} ({len(part)})",
        )
    _label_points(ax, rows[stable], "acoustic_cutoff_thz", "msd_na_avg_A2")
    ax.set_xlabel("Acoustic cutoff frequency (THz)")
    ax.set_ylabel("Na phonon MSD, average (Å²)")
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "stability_map")


def _d_axis(ax, column: str, values: pd.Series) -> None:
    ax.set_yscale("log")
    positive = values[values > 0]
    # within a decade: plain numbers, not 10^x minor labels
    if len(positive) and positive.max() < 10 * positive.min():
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel(
        {"D_avg_A2_per_ps": "D average (Å²/ps)", "D_max_A2_per_ps": "D max. direction (Å²/ps)"}[
            column
        ]
    )


def d_vs_msd(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """D against the Na phonon MSD: average D vs average MSD, and maximum vs maximum (paper Fig. 3)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, (msd, d, label) in zip(
        axes,
        [
            ("msd_na_avg_A2", "D_avg_A2_per_ps", "average"),
            ("msd_na_max_A2", "D_max_A2_per_ps", "maximum"),
        ],
        strict=True,
    ):
        rows = _usable_with(table, msd, d)
        ax.scatter(rows[msd], rows[d], s=25, c="tab:blue", edgecolors="k", linewidths=0.3)
        _label_points(ax, rows, msd, d)
        ax.set_xlabel(f"Na phonon MSD, {label} (Å²)")
        _d_axis(ax, d, rows[d])
    fig.suptitle("Diffusion against the harmonic Na mean-square displacement")
    return save_figure(fig, out_dir, "d_vs_na_msd")


def d_vs_vdos_center(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """D against the MD Na VDOS centre, coloured by that centre over the phonon acoustic cutoff (paper Fig. 4)."""
    rows = _usable_with(
        table, "na_vdos_center_thz", "D_avg_A2_per_ps", "na_vdos_center_over_acoustic_cutoff"
    )
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    points = ax.scatter(
        rows["na_vdos_center_thz"],
        rows["D_avg_A2_per_ps"],
        c=rows["na_vdos_center_over_acoustic_cutoff"],
        cmap="viridis",
        s=30,
        edgecolors="k",
        linewidths=0.3,
    )
    fig.colorbar(points, ax=ax, label="Na VDOS centre / acoustic cutoff")
    _label_points(ax, rows, "na_vdos_center_thz", "D_avg_A2_per_ps")
    ax.set_xlabel("Na VDOS centre from MD (THz)")
    _d_axis(ax, "D_avg_A2_per_ps", rows["D_avg_A2_per_ps"])
    return save_figure(fig, out_dir, "d_vs_na_vdos_center")


def d_vs_acoustic_cutoff(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """D against the acoustic cutoff frequency of the MD'd structures (log D), the paper's second
    descriptor."""
    rows = _usable_with(table, "acoustic_cutoff_thz", "D_avg_A2_per_ps")
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    ax.scatter(
        rows["acoustic_cutoff_thz"],
        rows["D_avg_A2_per_ps"],
        s=25,
        c="tab:green",
        edgecolors="k",
        linewidths=0.3,
    )
    _label_points(ax, rows, "acoustic_cutoff_thz", "D_avg_A2_per_ps")
    ax.set_xlabel("Acoustic cutoff frequency (THz)")
    _d_axis(ax, "D_avg_A2_per_ps", rows["D_avg_A2_per_ps"])
    return save_figure(fig, out_dir, "d_vs_acoustic_cutoff")


def correlation_heatmap(correlation_table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Pearson r and Spearman rho of every descriptor with D average and maximum, numbers written in the cells."""
    wide = correlation_table.pivot(
        index="descriptor", columns="target", values=["pearson_r", "spearman_rho"]
    )
    wide = wide.reindex(correlation_table["descriptor"].drop_duplicates())
    labels = [
        f"{'Pearson' if stat == 'pearson_r' else 'Spearman'}\n{target.split('_')[1]} D"
        for stat, target in wide.columns
    ]
    values = wide.to_numpy(float)
    counts = correlation_table.pivot(index="descriptor", columns="target", values="n").reindex(
        wide.index
    )
    fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(wide) + 1.5))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        ax.text(
            j, i, "–" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=7
        )
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_yticks(
        range(len(wide)), [f"{d} (n={int(counts.loc[d].max())})" for d in wide.index], fontsize=8
    )
    fig.colorbar(image, ax=ax, label="correlation with D")
    return save_figure(fig, out_dir, "correlation_heatmap")


def _dispersion(ax, band: BandModeData, values: np.ndarray, norm, cmap: str):
    distances = np.asarray(band.distances)
    frequencies = np.asarray(band.frequencies_thz)
    x = np.repeat(distances[:, None], frequencies.shape[1], axis=1)
    points = ax.scatter(
        x.ravel(), frequencies.ravel(), c=values.ravel(), s=4, cmap=cmap, norm=norm, linewidths=0
    )
    for tick in band.tick_distances:
        ax.axvline(tick, color="0.7", linewidth=0.5)
    ax.set_xticks(band.tick_distances, band.tick_labels, fontsize=8)
    ax.set_xlim(distances[0], distances[-1])
    ax.set_ylabel("Frequency (THz)")
    return points


def dispersion_by_na_msd(
    band: BandModeData,
    modes: ModeData,
    formula: str,
    temperature_K: float,
    out_dir: Path,
    stem: str,
) -> list[Path]:
    """Dispersion coloured by each mode's Na MSD, beside the participation ratio of the mesh modes (paper Fig. 5)."""
    msd = np.asarray(band.na_msd_A2)
    positive = msd[msd > 0]
    norm = (
        LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max())
        if len(positive)
        else None
    )
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 4), sharey=True, gridspec_kw={"width_ratios": [2.2, 1]}
    )
    points = _dispersion(left, band, np.clip(msd, norm.vmin if norm else 0, None), norm, "magma_r")
    fig.colorbar(points, ax=left, label=f"mode Na MSD at {temperature_K:g} K (Å²)")
    frequencies, participation = (
        np.asarray(modes.frequencies_thz).ravel(),
        np.asarray(modes.participation_ratio).ravel(),
    )
    right.scatter(participation, frequencies, s=2, c="tab:purple", alpha=0.4, linewidths=0)
    right.set_xlabel("Participation ratio")
    right.set_xlim(0, 1.02)
    fig.suptitle(f"{formula}: Na mean-square displacement per mode")
    return save_figure(fig, out_dir, stem)


def dispersion_by_coupling(
    band: BandModeData,
    modes: ModeData,
    formula: str,
    acoustic_cutoff_thz: float,
    na_center_thz: float,
    out_dir: Path,
    stem: str,
) -> list[Path]:
    """Dispersion coloured by the Na-host coupling factor, beside the total and Na partial VDOS with the
    acoustic cutoff and the Na centre marked (paper Fig. 5)."""
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 4), sharey=True, gridspec_kw={"width_ratios": [2.2, 1]}
    )
    points = _dispersion(
        left, band, np.asarray(band.na_host_coupling), plt.Normalize(0, 1), "coolwarm"
    )
    fig.colorbar(points, ax=left, label="Na-host coupling factor")
    frequencies = np.asarray(modes.frequencies_thz)
    q_weights = np.asarray(modes.weights)[:, None] * np.ones_like(frequencies)
    edges = np.linspace(min(0.0, frequencies.min()), frequencies.max() * 1.02, 80)
    total, _ = np.histogram(frequencies, edges, weights=q_weights, density=True)
    na_weights = q_weights * np.asarray(modes.na_weight)
    na, _ = np.histogram(frequencies, edges, weights=na_weights)
    na = na / (q_weights.sum() * np.diff(edges))  # the Na share of the same normalisation
    centres = 0.5 * (edges[1:] + edges[:-1])
    right.plot(total, centres, color="0.3", label="total")
    right.fill_betweenx(centres, na, color="tab:orange", alpha=0.6, label="Na")
    for value, style, label in [
        (acoustic_cutoff_thz, "--", "acoustic cutoff"),
        (na_center_thz, ":", "Na centre"),
    ]:
        for ax in (left, right):
            ax.axhline(
                value,
                color="k",
                linestyle=style,
                linewidth=0.8,
                label=label if ax is right else None,
            )
    right.set_xlabel("VDOS (1/THz)")
    right.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{formula}: Na-host coupling and vibrational density of states")
    return save_figure(fig, out_dir, stem)


def msd_curves(
    curves: dict[str, dict], out_dir: Path, species: str = "Na", max_panels: int = 6
) -> list[Path]:
    """MSD(t) from MD, one panel per structure: the species' x, y, z and every element's average."""
    items = list(curves.items())[:max_panels]
    columns = min(3, len(items))
    rows = -(-len(items) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
    for ax, (title, curve) in zip(axes.ravel(), items, strict=False):
        times = np.asarray(curve["times_ps"])
        hosts = iter(HOST_COLOURS)
        for key in sorted(k for k in curve if k.startswith("msd_xyz_")):
            element, msd = key.removeprefix("msd_xyz_"), np.asarray(curve[key])
            if element == species:
                ax.plot(
                    times, msd.sum(axis=1), color="k", linewidth=1.8, label=f"{species} (x+y+z)"
                )
                for axis, (name, colour) in enumerate(zip("xyz", AXIS_COLOURS, strict=True)):
                    ax.plot(
                        times,
                        msd[:, axis],
                        color=colour,
                        linestyle=":",
                        linewidth=1.0,
                        label=f"{species} {name}",
                    )
            else:
                ax.plot(
                    times,
                    msd.sum(axis=1),
                    color=next(hosts, "0.5"),
                    linewidth=1.0,
                    label=f"{element} (x+y+z)",
                )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t (ps)")
        ax.set_ylabel("MSD (Å²)")
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(items) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return save_figure(fig, out_dir, "msd_curves")


def arrhenius_plot(series: dict[str, dict], out_dir: Path) -> list[Path]:
    """ln D against 1000/T with the fitted line and activation energy, one line per structure. ``series`` maps a
    label to an ``ArrheniusFit`` as a dict."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for label, fit in series.items():
        temperatures, values = np.asarray(fit["temperatures_K"]), np.asarray(fit["D_A2_per_ps"])
        points = ax.scatter(1000 / temperatures, values, s=20)
        line_t = np.linspace(temperatures.min(), temperatures.max(), 50)
        line = fit["prefactor_A2_per_ps"] * np.exp(
            -fit["activation_energy_eV"] / (BOLTZMANN_EV_PER_K * line_t)
        )
        ea, err = fit["activation_energy_eV"], fit["activation_energy_err_eV"]
        ax.plot(
            1000 / line_t,
            line,
            color=points.get_facecolor()[0],
            label=f"{label}: Ea = {ea:.2f} ± {err:.2f} eV",
        )
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (Å²/ps)")
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, "arrhenius")
