"""The report's force-field section: trained models (learning curves, test errors beside the pretrained models,
force parity on the held-out split), MLP-vs-DFT benchmarks on AIMD frames (errors per element, parity), and DFT
phonons of the validation hits beside the MLP's (dispersions overlaid, Na MSD)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from na_lattice_flows.analysis.figures import save_figure
from na_lattice_flows.analysis.html import Section, table_html

METRIC_COLUMNS = [
    "force_rmse_meV_per_A",
    "force_mae_meV_per_A",
    "energy_rmse_meV_per_atom",
    "energy_rmse_offset_removed_meV_per_atom",
    "stress_rmse_GPa",
    "n_frames",
]


def _stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[-80:]


def learning_curves(document: dict, out_dir: Path) -> list[Path]:
    """Training loss and validation force/energy RMSE per epoch."""
    curves = document["curves"]
    epochs = np.asarray(curves["epoch"], dtype=float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for key, label, axis in (
        ("train_loss", "training loss", left),
        ("val_force_rmse_eV_per_A", "validation force RMSE (eV/Å)", right),
        ("val_energy_rmse_eV_per_atom", "validation energy RMSE (eV/atom)", right),
    ):
        values = np.array([np.nan if v is None else v for v in curves.get(key, [])], dtype=float)
        if len(values) == len(epochs) and np.isfinite(values).any():
            axis.plot(epochs, values, marker=".", label=label)
    for axis in (left, right):
        axis.set(xlabel="epoch", yscale="log")
        axis.legend(fontsize=8)
    fig.suptitle(f"{document['route']} on {document['dataset']}")
    return save_figure(fig, out_dir, f"learning_{_stem(document['model'])}")


def force_parity(
    parity: dict[str, dict[str, list[float]]], title: str, out_dir: Path, stem: str
) -> list[Path]:
    """Predicted against reference force components, one colour per model."""
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    limits = []
    for model, points in parity.items():
        reference, predicted = (
            np.asarray(points["reference_eV_per_A"]),
            np.asarray(points["predicted_eV_per_A"]),
        )
        rmse = 1e3 * float(np.sqrt(np.mean((predicted - reference) ** 2)))
        ax.scatter(
            reference, predicted, s=3, alpha=0.4, label=f"{model.split('/')[-1]} ({rmse:.0f} meV/Å)"
        )
        limits += [reference.min(), reference.max()]
    if limits:
        ax.plot([min(limits), max(limits)], [min(limits), max(limits)], color="k", lw=0.8)
    ax.set(xlabel="DFT force component (eV/Å)", ylabel="model (eV/Å)", title=title)
    ax.legend(fontsize=7, markerscale=3)
    return save_figure(fig, out_dir, stem)


def dispersion_overlay(comparison: dict, out_dir: Path) -> list[Path]:
    """DFT (black) and MLP (red, dashed) dispersions along one path, from the same supercells."""
    bands = comparison["bands"]
    distances = np.asarray(bands["distances"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style in (
        ("dft_frequencies_thz", {"color": "k", "lw": 1.0}),
        ("mlp_frequencies_thz", {"color": "tab:red", "lw": 1.0, "ls": "--"}),
    ):
        frequencies = np.asarray(bands[key])
        for branch in range(frequencies.shape[1]):
            ax.plot(
                distances,
                frequencies[:, branch],
                **style,
                label=("DFT" if key.startswith("dft") else comparison["model"])
                if branch == 0
                else None,
            )
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set(
        xlabel="wave vector (path)",
        ylabel="frequency (THz)",
        title=f"{comparison['formula']}: Na MSD DFT {comparison['msd_dft_A2']:.4f}, MLP {comparison['msd_mlp_A2']:.4f} Å²",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, f"dft_vs_mlp_{_stem(comparison['structure'])}")


def _metrics_table(models: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"model": name, **{c: metrics.get(c) for c in METRIC_COLUMNS}}
            for name, metrics in models.items()
        ]
    )


def force_field_section(
    page,
    trained: list[dict],
    frame_benchmarks: list[dict],
    phonons: list[dict],
    force_benchmarks: pd.DataFrame | None = None,
) -> Section | None:
    """``page``: the report's page (``figure(paths, caption)``, ``figure_dir``); ``force_benchmarks``: the
    stored rankings (``execution.results.force_benchmarks_table``). None when there is nothing."""
    has_rankings = force_benchmarks is not None and not force_benchmarks.empty
    if not trained and not frame_benchmarks and not phonons and not has_rankings:
        return None
    body = []
    if has_rankings:
        body.append(
            "<h3>Models against DFT force references (benchmark-forces --submit), best first</h3>"
            + table_html(force_benchmarks, "force_benchmarks", digits=3)
        )
    for document in trained:
        body.append(
            f"<h3>{document['route']}: {document['model']}</h3><p>dataset {document['dataset']} "
            f"({document['n_frames']}), {document['seconds']:.0f} s of training; test split errors:</p>"
            + table_html(_metrics_table(document["test"]["models"]))
        )
        body.append(
            page.figure(
                learning_curves(document, page.figure_dir),
                f"Learning curves of {document['model']}",
            )
        )
        if document["test"].get("parity"):
            paths = force_parity(
                document["test"]["parity"],
                "held-out test split",
                page.figure_dir,
                f"parity_{_stem(document['model'])}",
            )
            body.append(
                page.figure(
                    paths,
                    f"Force parity on the test split: {document['model']} and the pretrained models",
                )
            )
    for index, benchmark in enumerate(frame_benchmarks):
        per_element = pd.DataFrame(
            {m: v["force_rmse_per_element_meV_per_A"] for m, v in benchmark["models"].items()}
        ).T
        body.append(
            f"<h3>Models on AIMD frames ({len(benchmark['per_file'])} runs x models)</h3>"
            + table_html(_metrics_table(benchmark["models"]))
            + "<h4>Force RMSE per element (meV/Å)</h4>"
            + table_html(per_element.reset_index(names="model"))
        )
        if benchmark.get("parity"):
            paths = force_parity(
                benchmark["parity"], "AIMD frames", page.figure_dir, f"parity_aimd_{index}"
            )
            body.append(page.figure(paths, "Force parity on AIMD frames"))
    if phonons:
        rows = pd.DataFrame(
            [
                {
                    key: c[key]
                    for key in (
                        "structure",
                        "formula",
                        "model",
                        "temperature_K",
                        "msd_dft_A2",
                        "msd_mlp_A2",
                        "msd_ratio_mlp_over_dft",
                        "ifc2_rmse_eV_per_A2",
                    )
                }
                | {
                    "dft_stable": c["dft_stability"]["dynamically_stable"],
                    "mlp_stable": c["mlp_stability"]["dynamically_stable"],
                }
                for c in phonons
            ]
        )
        body.append(
            "<h3>DFT phonons of the validation hits beside the MLP's</h3>" + table_html(rows)
        )
        body += [
            page.figure(
                dispersion_overlay(c, page.figure_dir),
                f"{c['structure']}: DFT and {c['model']} dispersions",
            )
            for c in phonons
        ]
    return Section("Force fields against DFT", "".join(body))
