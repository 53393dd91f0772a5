"""`results` judges the melt filter again from a stored run's framework figures (0.8 on), so that a store
written by 0.8.0, which called cubic Na3PS4 melted on its PS4 units' vibrational plateau, reads right."""

from __future__ import annotations

from na_lattice_flows.execution.results import _melt_verdict


def stored_transport(growth_A2: float | None, intercept_A2: float | None) -> dict:
    """The transport summary of the campaign's Na3PS4 run as 0.8.0 stored it (its P figures)."""
    phosphorus = {
        "element": "P",
        "n_atoms": 16,
        "D_avg_A2_per_ps": 0.0142,
        "D_xyz_A2_per_ps": [0.0147, 0.0153, 0.0126],
        "D_max_A2_per_ps": 0.0153,
        "tail_msd_xyz_A2": [0.14, 0.10, 0.075],
        "msd_growth_A2": growth_A2,
        "msd_intercept_A2": intercept_A2,
    }
    run = {"species": "Na", "duration_ps": 10.05, "elements": {"P": phosphorus}}
    return {"reference_temperature_K": 800.0, "melted": True, "runs": {"800": run}}


def test_a_stored_plateau_is_not_read_as_a_melt():
    assert _melt_verdict(stored_transport(0.052, 0.251)) is False
    # a framework that does rise across the window is melted, as stored
    assert _melt_verdict(stored_transport(0.9, 0.1)) is True
    # runs before 0.8 carry no growth figures: the stored verdict stands
    assert _melt_verdict(stored_transport(None, None)) is True
    assert _melt_verdict({"melted": None}) is None
