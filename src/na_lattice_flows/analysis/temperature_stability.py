"""The report's view of stability at the screening temperature (``--stability finite-temperature``): which
structures the effective phonons rescued or kept out, and their dispersions harmonic and at T side by side; and
the soft-mode figure of ``na-flows doping soft-mode`` (omega_eff^2 against T with the extrapolated T_C)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from phonopy import Phonopy
from pymatgen.core import Structure
from pymatgen.io.phonopy import get_phonopy_structure

from na_lattice_flows.analysis.figures import save_figure
from na_lattice_flows.analysis.html import Section, table_html
from na_lattice_flows.execution.queries import phonon_output, summaries_of

CHANGED_COLUMNS = [
    "candidate_id",
    "formula",
    "harmonically_stable",
    "dynamically_stable",
    "min_effective_frequency_thz",
    "descriptors_from",
    "stability_reason",
]


def phonopy_from_output(
    structure: Structure, output: dict, key: str = "force_constants"
) -> Phonopy:
    """Rebuild the phonon job's Phonopy object from its stored force constants (``key``: the harmonic ones, or
    ``effective_force_constants``, those at T)."""
    # older documents: phonopy's choice on the same cell
    primitive = output.get("primitive_matrix") or "auto"
    ph = Phonopy(
        get_phonopy_structure(structure),
        supercell_matrix=output["supercell_matrix"],
        primitive_matrix=primitive,
    )
    force_constants = np.asarray(output[key], dtype=float)
    if force_constants.shape[1] != len(ph.supercell) or force_constants.shape[0] not in (
        len(ph.primitive),
        len(ph.supercell),
    ):
        raise ValueError(
            f"stored force constants {force_constants.shape} do not fit the {len(ph.supercell)}-atom supercell"
        )
    ph.force_constants = force_constants
    return ph


def _bands(ph: Phonopy) -> dict:
    ph.auto_band_structure(npoints=41, write_yaml=False, with_eigenvectors=False)
    return ph.get_band_structure_dict()


def harmonic_and_effective_dispersion(
    harmonic: Phonopy,
    effective: Phonopy,
    formula: str,
    temperature_K: float,
    out_dir: Path,
    stem: str,
) -> list[Path]:
    """Both dispersions on seekpath's path (the same path: the same cell), imaginary frequencies negative."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for ph, style, label in (
        (harmonic, {"color": "0.55", "ls": "--"}, "harmonic"),
        (effective, {"color": "C3"}, f"effective at {temperature_K:g} K"),
    ):
        bands = _bands(ph)
        for index, (distances, frequencies) in enumerate(
            zip(bands["distances"], bands["frequencies"], strict=True)
        ):
            ax.plot(distances, frequencies, lw=1, label=label if index == 0 else None, **style)
    ticks = [segment[0] for segment in bands["distances"]] + [bands["distances"][-1][-1]]
    for tick in ticks:
        ax.axvline(tick, color="grey", lw=0.5)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(
        xticks=ticks,
        xticklabels=[],
        xlim=(ticks[0], ticks[-1]),
        ylabel="frequency (THz; imaginary < 0)",
        title=f"{formula}: harmonic and effective phonons at {temperature_K:g} K",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, stem)


def soft_mode_figure(
    transition: dict, formula: str, out_dir: Path, stem: str = "soft_mode"
) -> list[Path]:
    """omega_eff^2 of the soft mode against T, the fitted line and T_C with its standard error."""
    points = [p for p in transition["points"] if p.get("frequency_squared_thz2") is not None]
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    ax.plot(
        [p["temperature_K"] for p in points],
        [p["frequency_squared_thz2"] for p in points],
        "o",
        color="C0",
        label="effective phonons",
    )
    tc, err, slope = (
        transition.get("transition_temperature_K"),
        transition.get("transition_temperature_err_K"),
        transition.get("slope_thz2_per_K"),
    )
    if tc is not None and slope is not None:
        t = np.linspace(min(tc, points[0]["temperature_K"]), points[-1]["temperature_K"], 50)
        ax.plot(t, slope * (t - tc), color="C0", lw=1, label=f"T_C = {tc:.0f} ± {err:.0f} K")
        ax.axvspan(tc - err, tc + err, color="C0", alpha=0.15)
    ax.axhline(0, color="k", lw=0.5)
    q = ", ".join(f"{x:g}" for x in transition["qpoint"])
    ax.set(
        xlabel="T (K)",
        ylabel="ω² (THz², imaginary < 0)",
        title=f"{formula}: soft mode at q = ({q})",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, stem)


def temperature_stability_section(
    page, session, table: pd.DataFrame, n_dispersions: int = 3
) -> Section | None:
    """The structures judged at T (harmonically unstable, ``--stability finite-temperature``): rescued or not, with
    the dispersions of up to ``n_dispersions`` rescued ones. None when no structure was judged at T."""
    if "stability_method" not in table:
        return None
    judged = table[table["stability_method"].eq("finite-temperature")]
    if judged.empty:
        return None
    rescued = judged[judged["dynamically_stable"].eq(True)]
    parts = [
        (
            f"<p>{len(judged)} structures the harmonic screen calls unstable were judged on their effective phonons at the "
            f"screening temperature: {len(rescued)} are stable there and go to MD, with descriptors from the effective force "
            "constants.</p>"
        ),
        table_html(
            judged.reindex(columns=CHANGED_COLUMNS).reset_index(drop=True), "judged-at-temperature"
        ),
    ]
    summaries = summaries_of(session, rescued["candidate_id"].tolist()[:n_dispersions])
    for _, row in rescued.head(n_dispersions).iterrows():
        cid = row["candidate_id"]
        found = phonon_output(session, cid)
        if (
            found is None
            or cid not in summaries
            or found["output"].get("effective_force_constants") is None
        ):
            page.cannot.append(
                f"harmonic and effective dispersion of {cid}: no stored effective force constants"
            )
            continue
        output, structure = (
            found["output"],
            Structure.from_dict(summaries[cid]["relaxed_structure"]),
        )
        try:
            harmonic, effective = (
                phonopy_from_output(structure, output),
                phonopy_from_output(structure, output, "effective_force_constants"),
            )
        except ValueError as error:
            page.cannot.append(f"harmonic and effective dispersion of {cid}: {error}")
            continue
        stem = "dispersion_at_T_" + "".join(c if c.isalnum() or c in "-_" else "_" for c in cid)
        temperature = output["descriptors"]["temperature_K"]
        paths = harmonic_and_effective_dispersion(
            harmonic, effective, row["formula"], temperature, page.figure_dir, stem
        )
        parts.append(
            page.figure(
                paths, f"{cid}: harmonic (dashed) and effective phonons at {temperature:g} K"
            )
        )
    return Section("Stability at the screening temperature", "".join(parts))


def soft_mode_section(page, session) -> Section | None:
    """The soft-mode series in the store (``na-flows doping soft-mode --submit``): T_C with its error and the
    figure of omega_eff^2 against T for each; None when there is none."""
    documents = [
        d["output"]
        for d in session.job_store.query(
            {"output.soft_mode_study": True}, properties=["output"], sort={"completed_at": 1}
        )
    ]
    if not documents:
        return None
    rows, parts = [], []
    for index, doc in enumerate(documents):
        rows.append(
            {
                "structure": doc["name"],
                "formula": doc["formula"],
                "model": doc["model"],
                "q": str(doc["qpoint"]),
                "harmonic_frequency_thz": doc["harmonic_frequency_thz"],
                "T_C_K": doc.get("transition_temperature_K"),
                "T_C_err_K": doc.get("transition_temperature_err_K"),
                "temperatures_K": ", ".join(f"{p['temperature_K']:g}" for p in doc["points"]),
                "note": doc.get("note"),
            }
        )
        paths = soft_mode_figure(doc, doc["formula"], page.figure_dir, f"soft_mode_{index}")
        parts.append(
            page.figure(
                paths,
                f"{doc['name']} ({doc['model']}): the soft mode's effective frequency squared against T",
            )
        )
    intro = (
        "<p>T_C from the soft mode: the effective phonons at each temperature, omega_eff^2 of the mode that drives the "
        "transition, and where its line extrapolates to zero (standard error from the fit).</p>"
    )
    return Section(
        "Soft-mode transition temperatures",
        intro + table_html(pd.DataFrame(rows), "soft-mode", digits=3) + "".join(parts),
    )
