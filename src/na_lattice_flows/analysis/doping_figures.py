"""Figures of the doped study (the study's Figs. 2-6): lattice parameters against T with the T_C band, T_C
against the dopant fraction, the four-system comparison, dihedral time series, Arrhenius plots of D, D_c and
D_ab. Each takes the study's plain documents (dicts from the store) and returns the files it wrote."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from na_lattice_flows.analysis.figures import save_figure


def lattice_vs_temperature(systems: list[dict], out_dir: Path) -> list[Path]:
    """Lattice parameters a, b, c of each system against temperature (the tetragonal-cubic merge)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for color, system in zip(
        plt.cm.viridis(np.linspace(0, 0.9, len(systems))), systems, strict=True
    ):
        temperatures = sorted(system["lattice_vs_T"], key=float)
        lattice = np.array([system["lattice_vs_T"][t] for t in temperatures])
        t = np.array(temperatures, dtype=float)
        for k, marker in enumerate("os^"):
            ax.plot(
                t,
                lattice[:, k],
                marker=marker,
                color=color,
                lw=1,
                label=system["system"] if k == 0 else None,
            )
        estimate = system["transition"]
        if estimate.get("T_C_K") is not None:
            ax.axvspan(
                estimate["T_C_K"] - estimate["uncertainty_K"],
                estimate["T_C_K"] + estimate["uncertainty_K"],
                color=color,
                alpha=0.15,
            )
    ax.set(
        xlabel="T (K)",
        ylabel="lattice parameter (Å, per conventional cell)",
        title="a (o), b (s), c (^) with the T_C band",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "doping_lattice_vs_T")


def tc_vs_fraction(rows: list[dict], out_dir: Path) -> list[Path]:
    """T_C against the dopant fraction of the charge-compensated systems, with the study's and
    experiment's values."""
    compensated = [r for r in rows if r["vacancy_mode"] == "compensate" and r["T_C_K"] is not None]
    fig, ax = plt.subplots(figsize=(5, 4))
    if compensated:
        ax.errorbar(
            [100 * r["x_achieved"] for r in compensated],
            [r["T_C_K"] for r in compensated],
            yerr=[r["T_C_uncertainty_K"] for r in compensated],
            marker="o",
            capsize=3,
        )
    ax.set(
        xlabel="dopant fraction x (%)",
        ylabel="T_C (K)",
        title="T_C against doping (dopant + Na vacancies)",
    )
    return save_figure(fig, out_dir, "doping_tc_vs_x")


def four_systems(rows: list[dict], out_dir: Path) -> list[Path]:
    """T_C and D* of pristine / dopant only / vacancies only / dopant + vacancies (at the control fraction)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    names = [r["system"] for r in rows]
    tc = [r["T_C_K"] if r["T_C_K"] is not None else np.nan for r in rows]
    d_star = [r["D_star_A2_per_ps"] if r["D_star_A2_per_ps"] is not None else np.nan for r in rows]
    axes[0].bar(names, tc, yerr=[r["T_C_uncertainty_K"] or 0 for r in rows], capsize=3)
    axes[0].set(ylabel="T_C (K)", title="transition temperature")
    axes[1].bar(names, d_star)
    axes[1].set(ylabel="D* (Å²/ps)", title="tracer D at the highest transport T", yscale="log")
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
    return save_figure(fig, out_dir, "doping_four_systems")


def dihedral_series(systems: list[dict], out_dir: Path) -> list[Path]:
    """The MS4 tetrahedra's dihedral-angle series of each system and temperature (one panel each)."""
    panels = [
        (s["system"], t, series)
        for s in systems
        for t, series in sorted(s.get("dihedral_series", {}).items(), key=lambda i: float(i[0]))
    ]
    if not panels:
        return []
    panels = panels[:6]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(6.5, 1.8 * len(panels)), sharex=True, squeeze=False
    )
    for ax, (name, temperature, series) in zip(axes[:, 0], panels, strict=True):
        ax.plot(series["times_ps"], np.asarray(series["pairs_deg"]), lw=1)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel("dihedral (°)")
        ax.set_title(f"{name}, {temperature} K (sliding-window average)", fontsize=9)
    axes[-1, 0].set_xlabel("t (ps)")
    return save_figure(fig, out_dir, "doping_dihedrals")


def arrhenius_axes(systems: list[dict], out_dir: Path) -> list[Path]:
    """Arrhenius plot of D*, D_c and D_ab of every system: the anisotropy against 1/T."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    drawn = False
    for system in systems:
        for key, style in (("D_star", "-o"), ("D_c", "--s"), ("D_ab", ":^")):
            fit = system.get("arrhenius", {}).get(key)
            if not fit:
                continue
            t = np.array(fit["temperatures_K"])
            ax.semilogy(
                1000 / t,
                fit["D_A2_per_ps"],
                style,
                label=f"{system['system']} {key}: Ea = {fit['activation_energy_eV']:.3f} eV",
            )
            drawn = True
    if not drawn:
        plt.close(fig)
        return []
    ax.set(xlabel="1000 / T (1/K)", ylabel="D (Å²/ps)", title="Arrhenius: D*, D along c and in ab")
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, "doping_arrhenius")


def harmonic_dispersion(ph, verdict: dict, formula: str, out_dir: Path) -> list[Path]:
    """The harmonic check: the dispersion along phonopy's automatic path (seekpath), imaginary frequencies as
    negative, the softest mode marked."""
    ph.auto_band_structure(write_yaml=False, with_eigenvectors=False)
    bands = ph.get_band_structure_dict()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for distances, frequencies in zip(bands["distances"], bands["frequencies"], strict=True):
        ax.plot(distances, frequencies, color="C0", lw=1)
    ticks = [segment[0] for segment in bands["distances"]] + [bands["distances"][-1][-1]]
    labels = getattr(ph.band_structure, "labels", None)
    if labels is not None and len(labels) == len(ticks):
        ax.set_xticks(ticks, [label.replace("GAMMA", "Γ") for label in labels])
    else:
        ax.set_xticks(ticks)
    for tick in ticks:
        ax.axvline(tick, color="grey", lw=0.5)
    ax.axhline(0, color="k", lw=0.5)
    q = ", ".join(
        f"{x:.2f}"
        for x in verdict.get("softest_soft_mode_qpoint") or verdict.get("min_frequency_qpoint", [])
    )
    ax.set(
        ylabel="frequency (THz; imaginary < 0)",
        xlim=(ticks[0], ticks[-1]),
        title=f"{formula}: min {verdict.get('min_frequency_thz', float('nan')):.2f} THz at q = ({q})",
    )
    return save_figure(fig, out_dir, "doping_harmonic_dispersion")
