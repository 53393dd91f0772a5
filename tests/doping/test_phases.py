"""Phase calls and the T_C protocol on synthetic lattice traces with a known transition at 487 K: tetragonal
(c/a = 1.018 shrinking steeply near T_C) below, cubic above, a point near T_C that switches between the two."""

from __future__ import annotations

import numpy as np
import pytest

from na_lattice_flows.doping.phases import (
    FinePoint,
    PhaseThresholds,
    classify_phase,
    coarse_bracket,
    fine_grid,
    lattice_parameters,
    transition_temperature,
)

TRUE_TC_K = 487.0


def trace(
    temperature_K: float, n_frames: int = 400, axis: int = 2, noise: float = 0.01, seed: int = 0
) -> np.ndarray:
    """a, b, c per frame for a model crystal with a continuous-looking transition at TRUE_TC_K."""
    rng = np.random.default_rng(seed)
    a = 7.15 + 2e-4 * (temperature_K - 300)
    split = (
        0.018 * max(0.0, 1 - temperature_K / TRUE_TC_K) ** 0.1 if temperature_K < TRUE_TC_K else 0.0
    )
    lattice = np.full((n_frames, 3), a)
    lattice[:, axis] *= 1 + split
    return lattice + rng.normal(0, noise, lattice.shape)


def switching_trace(n_frames: int = 400) -> np.ndarray:
    """Tetragonal along c for the first half, then along a: the kind of switching seen near T_C."""
    return np.concatenate(
        [trace(400, n_frames // 2, axis=2), trace(400, n_frames // 2, axis=0, seed=1)]
    )


def test_lattice_parameters_of_a_supercell_are_per_conventional_cell():
    cells = np.array([np.diag([14.3, 14.3, 14.6]), [[14.3, 0, 0], [0, 14.3, 0], [0.5, 0, 14.6]]])
    lattice = lattice_parameters(cells, (2, 2, 2))
    np.testing.assert_allclose(lattice[0], [7.15, 7.15, 7.3, 90, 90, 90])
    assert lattice[1, 2] == pytest.approx(np.hypot(0.5, 14.6) / 2)
    # beta: angle between a and c
    assert lattice[1, 4] == pytest.approx(np.degrees(np.arccos(0.5 / np.hypot(0.5, 14.6))))


def test_phases_of_each_kind():
    low = classify_phase(trace(300))
    assert (low.phase, low.unique_axis) == ("tetragonal", 2)
    assert low.tetragonal_split == pytest.approx(0.018 * (1 - 300 / TRUE_TC_K) ** 0.1, abs=1e-3)
    # a flexible cell may choose any axis
    assert classify_phase(trace(300, axis=0)).unique_axis == 0
    assert classify_phase(trace(550)).phase == "cubic"
    switching = classify_phase(switching_trace())
    assert switching.phase == "mixed" and "switching" in switching.reason
    assert set(switching.windows) == {"tetragonal-c", "tetragonal-a"}
    # between the thresholds (split 0.6 %): neither clearly cubic nor clearly tetragonal
    between = np.full((100, 3), 7.2)
    between[:, 2] *= 1.006
    assert classify_phase(between).phase == "mixed"
    with pytest.raises(ValueError, match="windows"):
        classify_phase(trace(300, n_frames=3))


def test_t_c_protocol_brackets_the_known_transition():
    coarse = {t: classify_phase(trace(t)).phase for t in range(200, 601, 50)}
    assert coarse_bracket(coarse) == (450, 500)
    grid = fine_grid(450, 500, 12.5)
    assert grid == [462.5, 475.0, 487.5]
    points = []
    for t in grid:
        from_tetragonal, from_cubic = (
            classify_phase(trace(t, seed=2)).phase,
            classify_phase(trace(t, seed=3)).phase,
        )
        points.append(
            FinePoint(temperature_K=t, from_tetragonal=from_tetragonal, from_cubic=from_cubic)
        )
    estimate = transition_temperature(coarse, points)
    assert (
        estimate.T_C_K - estimate.uncertainty_K
        <= TRUE_TC_K
        <= estimate.T_C_K + estimate.uncertainty_K
    )
    # half the fine step: every fine point assigned
    assert estimate.uncertainty_K == pytest.approx(6.25)
    # when the two runs of a point disagree (hysteresis), that point is not assigned and the bracket widens
    disagreeing = [
        points[0],
        FinePoint(temperature_K=475, from_tetragonal="tetragonal", from_cubic="cubic"),
        points[2],
    ]
    wide = transition_temperature(coarse, disagreeing)
    assert wide.uncertainty_K > estimate.uncertainty_K and "475 K" in wide.reason
    # a switching point is never assigned
    assert (
        FinePoint(temperature_K=480, from_tetragonal="mixed", from_cubic="mixed").assigned is None
    )


def test_no_bracket_is_said_not_guessed():
    only_tetragonal = {t: "tetragonal" for t in (200, 300)}
    estimate = transition_temperature(only_tetragonal)
    assert estimate.T_C_K is None and "widen the temperature grid" in estimate.reason
    # tetragonal only above the cubic point
    assert coarse_bracket({300: "cubic", 400: "tetragonal"}) is None
    thresholds = PhaseThresholds(cubic_max_split=0.02)
    assert classify_phase(trace(300), thresholds).phase == "cubic"  # the thresholds are the user's
