"""The phase of an NPT run from its lattice parameters, and the transition temperature T_C by the study's
protocol: a coarse temperature grid, then a fine grid between the highest clearly tetragonal and the lowest
clearly cubic point, run twice (from the tetragonal endpoint's state and from the cubic one's); a fine point is
assigned when both runs agree, and T_C lies between the highest tetragonal and the lowest cubic point.

Lattice parameters are per conventional cell: each supercell vector's length over its multiple. The unique
axis of a tetragonal cell is the one farthest from the mean of the other two (a fully flexible cell may choose
any axis)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from na_lattice_flows.errors import InputError

Phase = Literal["tetragonal", "cubic", "mixed"]
AXES = "abc"


class PhaseThresholds(BaseModel):
    """Relative lattice splittings, on window averages of the production frames."""

    cubic_max_split: float = Field(
        0.004, gt=0, description="cubic: (max - min) / mean of a, b, c below this"
    )
    tetragonal_min_split: float = Field(
        0.008, gt=0, description="tetragonal: |c - (a+b)/2| / mean above this ..."
    )
    tetragonal_max_ab_ratio: float = Field(
        0.34, gt=0, description="... with |a - b| below this fraction of |c - (a+b)/2|"
    )
    n_windows: int = Field(
        4,
        ge=1,
        description="the run is cut into this many windows; a point switches when they disagree",
    )


class PhaseCall(BaseModel):
    """The phase of one NPT run from its mean lattice, and the tetragonal axis if any."""

    phase: Phase
    unique_axis: int | None = Field(
        None, description="0, 1, 2 for a, b, c: the tetragonal axis (None unless tetragonal)"
    )
    lattice_A: tuple[float, float, float] = Field(description="mean a, b, c per conventional cell")
    tetragonal_split: float = Field(
        description="(unique - mean of the other two) / mean, on the mean lattice"
    )
    windows: list[str] = Field(
        description="the call of each window, e.g. 'tetragonal-c', 'cubic', 'mixed'"
    )
    reason: str


def lattice_parameters(
    cells: np.ndarray, supercell: tuple[int, int, int] = (1, 1, 1)
) -> np.ndarray:
    """(n_frames, 6): a, b, c (A, per conventional cell) and alpha, beta, gamma (degrees) of every frame."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
    lengths = np.linalg.norm(cells, axis=2)

    def angle(i: int, j: int) -> np.ndarray:
        cosine = np.einsum("fk,fk->f", cells[:, i], cells[:, j]) / (lengths[:, i] * lengths[:, j])
        return np.degrees(np.arccos(np.clip(cosine, -1, 1)))

    return np.column_stack(
        [lengths / np.asarray(supercell, dtype=float), angle(1, 2), angle(0, 2), angle(0, 1)]
    )


def _split(lattice: np.ndarray) -> tuple[int, float, float]:
    """The unique axis, its relative split from the other two, and the other two's relative difference."""
    lattice = np.asarray(lattice, dtype=float)
    mean = lattice.mean()
    deviations = [abs(lattice[i] - np.delete(lattice, i).mean()) for i in range(3)]
    unique = int(np.argmax(deviations))
    others = np.delete(lattice, unique)
    return (
        unique,
        float((lattice[unique] - others.mean()) / mean),
        float(abs(others[0] - others[1]) / mean),
    )


def _window_call(lattice: np.ndarray, thresholds: PhaseThresholds) -> str:
    unique, split, others = _split(lattice)
    if (lattice.max() - lattice.min()) / lattice.mean() < thresholds.cubic_max_split:
        return "cubic"
    if abs(
        split
    ) >= thresholds.tetragonal_min_split and others <= thresholds.tetragonal_max_ab_ratio * abs(
        split
    ):
        return f"tetragonal-{AXES[unique]}"
    return "mixed"


def classify_phase(lattice_abc: np.ndarray, thresholds: PhaseThresholds | None = None) -> PhaseCall:
    """Tetragonal (a = b != c), cubic (a = b = c) or mixed/switching, from a production lattice trace (n_frames,
    3+): each of ``n_windows`` windows is called on its mean lattice; the point is tetragonal or cubic only when
    every window says so (tetragonal: about the same axis), else mixed."""
    thresholds = thresholds or PhaseThresholds()
    trace = np.asarray(lattice_abc, dtype=float)[:, :3]
    if len(trace) < thresholds.n_windows:
        raise InputError(f"{len(trace)} frames cannot be cut into {thresholds.n_windows} windows")
    windows = [
        _window_call(window.mean(axis=0), thresholds)
        for window in np.array_split(trace, thresholds.n_windows)
    ]
    mean = trace.mean(axis=0)
    _, split, _ = _split(mean)
    if len(set(windows)) == 1 and windows[0] == "cubic":
        return PhaseCall(
            phase="cubic",
            lattice_A=tuple(mean),
            tetragonal_split=split,
            windows=windows,
            reason=f"every window a = b = c within {thresholds.cubic_max_split:.2%}",
        )
    if len(set(windows)) == 1 and windows[0].startswith("tetragonal"):
        return PhaseCall(
            phase="tetragonal",
            unique_axis=AXES.index(windows[0][-1]),
            lattice_A=tuple(mean),
            tetragonal_split=split,
            windows=windows,
            reason=f"every window tetragonal along {windows[0][-1]} (split {split:+.2%})",
        )
    reason = (
        "switching between " + " / ".join(dict.fromkeys(windows))
        if len(set(windows)) > 1
        else "between the cubic and tetragonal thresholds"
    )
    return PhaseCall(
        phase="mixed", lattice_A=tuple(mean), tetragonal_split=split, windows=windows, reason=reason
    )


class FinePoint(BaseModel):
    """One temperature of the fine grid, run from a tetragonal and from a cubic start."""

    temperature_K: float
    from_tetragonal: Phase
    from_cubic: Phase

    @property
    def assigned(self) -> Phase | None:
        """The phase when both runs agree on tetragonal or cubic; None otherwise."""
        return (
            self.from_tetragonal
            if self.from_tetragonal == self.from_cubic and self.from_tetragonal != "mixed"
            else None
        )


class TransitionEstimate(BaseModel):
    """T_C from the fine grid, with its uncertainty, or the reason there is none."""

    T_C_K: float | None = None
    uncertainty_K: float | None = Field(
        None,
        description="half the gap between the bracketing points (half the fine step when every fine point is assigned)",
    )
    tetragonal_below_K: float | None = Field(None, description="highest tetragonal point below T_C")
    cubic_above_K: float | None = Field(None, description="lowest cubic point above T_C")
    coarse: dict[str, Phase] = Field(default_factory=dict, description="temperature (K) -> phase")
    fine: list[FinePoint] = Field(default_factory=list)
    reason: str = ""


def coarse_bracket(phases: dict[float, Phase]) -> tuple[float, float] | None:
    """(highest tetragonal point below the lowest cubic point, that cubic point), or None without both."""
    cubic = [t for t, phase in phases.items() if phase == "cubic"]
    if not cubic:
        return None
    lowest_cubic = min(cubic)
    tetragonal = [t for t, phase in phases.items() if phase == "tetragonal" and t < lowest_cubic]
    return (max(tetragonal), lowest_cubic) if tetragonal else None


def fine_grid(low_K: float, high_K: float, step_K: float) -> list[float]:
    """Temperatures strictly between the bracket's ends, ``step_K`` apart from the low end."""
    if step_K <= 0:
        raise InputError(f"fine step {step_K} K: must be positive")
    count = int(np.floor((high_K - low_K) / step_K - 1e-9))
    return [float(low_K + step_K * i) for i in range(1, count + 1)]


def transition_temperature(
    coarse: dict[float, Phase], fine: list[FinePoint] | None = None
) -> TransitionEstimate:
    """T_C between the highest tetragonal and the lowest cubic point of the coarse grid and the assigned fine
    points, with half their distance as its uncertainty."""
    fine = fine or []
    estimate = TransitionEstimate(
        coarse={f"{t:g}": p for t, p in sorted(coarse.items())}, fine=fine
    )
    phases = dict(coarse)
    for point in fine:
        if point.assigned:
            phases[point.temperature_K] = point.assigned
    bracket = coarse_bracket(phases)
    if bracket is None:
        found = ", ".join(sorted({p for p in coarse.values()})) or "nothing"
        estimate.reason = f"no tetragonal point below a cubic point on the grid (found: {found}); widen the temperature grid"
        return estimate
    low, high = bracket
    estimate.T_C_K, estimate.uncertainty_K = (low + high) / 2, (high - low) / 2
    estimate.tetragonal_below_K, estimate.cubic_above_K = low, high
    unassigned = [f"{p.temperature_K:g} K" for p in fine if p.assigned is None]
    estimate.reason = f"tetragonal at {low:g} K, cubic at {high:g} K" + (
        f"; unassigned (runs disagree or mixed): {', '.join(unassigned)}" if unassigned else ""
    )
    return estimate
