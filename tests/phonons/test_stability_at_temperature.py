"""Stability at the screening temperature (``--stability finite-temperature``) and T_C from the soft mode, on
Lennard-Jones argon in the bcc structure: a crystal that is harmonically unstable (a zone-boundary soft mode at
0 K) and held up by anharmonicity when hot, as bcc Ti and Zr are, and as cubic Na3PS4 and Na3SbS4 are above
their transitions; the model is exact and costs nothing. The soft-mode line's uncertainty is checked against the
scatter of T_C over many noisy data sets."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from md_helpers import ARGON
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.analysis.temperature_stability import soft_mode_figure
from na_lattice_flows.phonons import jobs
from na_lattice_flows.phonons.finite_temperature import (
    EffectivePhononSettings,
    model_forces_of,
    stability_at_temperature,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
from na_lattice_flows.phonons.soft_mode import soft_mode_transition, transition_from_line
from na_lattice_flows.phonons.stability import stability_screen

LJ = LennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], smooth=True)
BCC = AseAtomsAdaptor.get_structure(bulk("Ar", "bcc", a=4.2, cubic=True))
SUPERCELL = [[3, 0, 0], [0, 3, 0], [0, 0, 3]]  # 54 atoms
FAST = {
    "n_structures": 16
}  # per iteration: with 8, bcc argon at 60 K lands on either side of stable by the draw


@pytest.fixture(scope="module")
def harmonic():
    reference = random_displacement_reference(
        BCC,
        SUPERCELL,
        lambda cells: predict_forces(cells, LJ),
        name="bcc Ar",
        n_supercells=4,
        amplitude_A=0.01,
    )
    ph = fit_force_constants(reference)
    verdict, ph = stability_screen(ph)
    return verdict, ph


def test_bcc_argon_is_harmonically_unstable_its_soft_mode_survives_at_5_K_and_is_gone_at_60_K(
    harmonic,
):
    verdict, ph = harmonic
    assert (
        not verdict.dynamically_stable
        and verdict.rule == "soft mode"
        and verdict.softest_soft_mode_thz < -0.3
    )
    cold, _, cold_record = stability_at_temperature(
        ph, verdict, LJ, EffectivePhononSettings(temperature_K=5.0, **FAST)
    )
    # measured: -0.41 THz at 1 K, -0.39 at 8 K, stable at 20 K
    assert not cold.dynamically_stable and cold_record.converged
    assert cold.reason.startswith("the soft mode survives at 5 K (effective phonons at 5 K,")
    # softer than harmonic, still imaginary
    assert verdict.softest_soft_mode_thz < cold.softest_soft_mode_thz < 0
    hot, effective, hot_record = stability_at_temperature(
        ph, verdict, LJ, EffectivePhononSettings(temperature_K=60.0, **FAST)
    )
    assert hot.dynamically_stable and hot.reason.startswith(
        "stable at 60 K (effective phonons at 60 K, "
    )
    assert "harmonically soft mode" in hot.reason and hot_record.free_energy_change_meV < 1.0
    # the per-mode cap is a trust region: it widens from its start to the ceiling while the fits stay close,
    # and the converged windows are drawn with the ceiling (0.5 A would hold the soft mode back)
    caps = [r.mode_displacement_cap_A for r in hot_record.iterations]
    assert caps[:3] == [0.25, 0.5, 1.0] and set(caps[-10:]) == {1.0}
    assert effective.force_constants.shape == ph.force_constants.shape


def test_a_loop_that_does_not_converge_keeps_the_structure_unstable_and_says_why(harmonic):
    verdict, ph = harmonic
    settings = EffectivePhononSettings(
        temperature_K=60.0,
        n_structures=2,
        window=1,
        max_iterations=2,
        free_energy_tolerance_meV=1e-9,
    )
    judged, kept, record = stability_at_temperature(ph, verdict, LJ, settings)
    assert not judged.dynamically_stable and record is None and kept is ph
    assert (
        "not judged at 60 K: effective phonons at 60 K: not converged in 2 iterations"
        in judged.reason
    )


def test_the_phonon_step_judges_at_temperature_only_what_the_harmonic_screen_rejects(monkeypatch):
    """The job's document and descriptors: the verdict at T is the one the MD gate reads, the harmonic one beside
    it; a harmonically stable structure (fcc argon) keeps its harmonic result and costs no effective phonons."""
    # argon's LJ on cells labelled Na: descriptors need Na sites
    monkeypatch.setattr(jobs, "get_calculator", lambda name: LJ)
    bcc = BCC.copy()
    bcc.replace_species({"Ar": "Na"})
    monkeypatch.setattr(
        jobs, "EffectivePhononSettings", lambda **kwargs: EffectivePhononSettings(**kwargs, **FAST)
    )
    arguments = {
        "model": "chgnet",
        "n_supercells": 4,
        "amplitude_A": 0.01,
        "seed": 0,
        "fc_method": "symfc",
        "temperature_K": 60.0,
        "low_freq_cutoff_thz": 1.0,
        "min_supercell_atoms": 50,
    }
    harmonic_doc = jobs.mlp_phonons.original(bcc, "bcc", **arguments)
    hot = jobs.mlp_phonons.original(bcc, "bcc", **arguments, stability="finite-temperature")
    assert (
        harmonic_doc.descriptors.dynamically_stable is False
        and harmonic_doc.descriptors.stability_method == "harmonic"
    )
    assert harmonic_doc.effective_phonons is None and harmonic_doc.harmonic_stability is None
    d = hot.descriptors
    assert (
        d.dynamically_stable is True
        and d.harmonically_stable is False
        and d.stability_method == "finite-temperature"
    )
    # the translations' zero left out
    assert d.min_effective_frequency_thz > 0.1 and d.descriptors_from == "effective at 60 K"
    assert hot.harmonic_stability.dynamically_stable is False and hot.effective_phonons.converged
    assert np.asarray(hot.effective_force_constants).shape == np.asarray(hot.force_constants).shape
    # from the effective force constants
    assert d.msd_na_avg_A2 != pytest.approx(harmonic_doc.descriptors.msd_na_avg_A2)
    fcc = AseAtomsAdaptor.get_structure(bulk("Na", "fcc", a=5.3, cubic=True))
    stable = jobs.mlp_phonons.original(
        fcc, "fcc", **{**arguments, "min_supercell_atoms": 30}, stability="finite-temperature"
    )
    assert stable.descriptors.stability_method == "harmonic" and stable.effective_phonons is None
    assert (
        stable.descriptors.harmonically_stable is True
        and stable.descriptors.descriptors_from == "harmonic"
    )
    report_section_of(hot, bcc)


def report_section_of(document, structure):
    """The report's section on structures judged at T, from the job's document (the store's two queries stubbed)."""
    import pandas as pd

    from na_lattice_flows.analysis import temperature_stability
    from na_lattice_flows.execution.results import temperature_stability_columns

    output = document.model_dump()
    row = {
        "candidate_id": "bcc",
        "formula": "Na",
        **temperature_stability_columns(output["descriptors"]),
        "dynamically_stable": True,
        "stability_reason": document.stability.reason,
    }
    old = {
        "candidate_id": "old",
        "formula": "NaCl",
        **temperature_stability_columns({"dynamically_stable": False}),
    }
    # a record from before 0.4
    assert old["stability_method"] == "harmonic" and old["harmonically_stable"] is False
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            temperature_stability, "phonon_output", lambda session, cid: {"output": output}
        )
        patch.setattr(
            temperature_stability,
            "summaries_of",
            lambda session, ids: {"bcc": {"relaxed_structure": structure.as_dict()}},
        )
        page = type(
            "Page",
            (),
            {
                "figure_dir": Path(folder),
                "cannot": [],
                "figure": lambda self, paths, caption: caption,
            },
        )()
        section = temperature_stability.temperature_stability_section(
            page, None, pd.DataFrame([row, old])
        )
        assert not page.cannot and (Path(folder) / "dispersion_at_T_bcc.png").is_file()
    assert (
        "1 structures the harmonic screen calls unstable" in section.body
        and "1 are stable there" in section.body
    )
    assert "bcc: harmonic (dashed) and effective phonons at 60 K" in section.body
    assert (
        temperature_stability.temperature_stability_section(page, None, pd.DataFrame([old])) is None
    )


@pytest.mark.slow  # 26 s; the command's tests run the same series on fewer temperatures
def test_the_soft_mode_series_puts_t_c_below_the_lowest_temperature_where_the_mode_is_real(
    harmonic,
):
    """Warm-started from the hot side, the effective mode at the harmonic soft q is real at 20, 40 and 60 K (and,
    test above, imaginary at 5 K): the extrapolated T_C must lie below 20 K within its uncertainty, and the series
    is reported coldest first with signed squares."""
    verdict, ph = harmonic
    transition = soft_mode_transition(
        ph, model_forces_of(ph, LJ), [20.0, 40.0, 60.0], settings=FAST
    )
    assert (
        transition.qpoint == verdict.softest_soft_mode_qpoint
        and transition.harmonic_frequency_thz < -0.3
    )
    assert [p.temperature_K for p in transition.points] == [20.0, 40.0, 60.0]
    assert all(
        p.frequency_squared_thz2 == pytest.approx(p.frequency_thz**2) and p.frequency_thz > 0
        for p in transition.points
    )
    if transition.transition_temperature_K is not None:
        assert (
            transition.transition_temperature_K - 2 * transition.transition_temperature_err_K < 20.0
        )
        assert transition.transition_temperature_err_K > 0
    else:
        assert transition.note
    with tempfile.TemporaryDirectory() as folder:
        paths = soft_mode_figure(transition.model_dump(), "Ar (bcc)", Path(folder), "bcc")
        assert [p.name for p in paths] == ["bcc.png", "bcc.svg"] and all(
            p.stat().st_size > 1000 for p in paths
        )


def test_the_uncertainty_of_t_c_matches_the_scatter_of_t_c_over_noisy_data_sets():
    rng = np.random.default_rng(0)
    temperatures = np.arange(300.0, 901.0, 100.0)
    truth = 0.004 * (temperatures - 480.0)  # THz^2: T_C 480 K
    assert transition_from_line(temperatures, truth)[0] == pytest.approx(480.0)
    estimates, errors = [], []
    for _ in range(2000):
        tc, err, _ = transition_from_line(
            temperatures, truth + rng.normal(0.0, 0.1, temperatures.size)
        )
        estimates.append(tc)
        errors.append(err)
    assert np.median(errors) == pytest.approx(np.std(estimates), rel=0.15)
    with pytest.raises(ValueError, match="at least 3 converged temperatures, got 2"):
        transition_from_line([300.0, 400.0], [-1.0, 1.0])
    with pytest.raises(ValueError, match="does not rise with T"):
        transition_from_line(temperatures, -truth)


def test_the_stability_option_is_new_work_only_when_set_and_bad_values_are_refused():
    """``stability`` is new in 0.4: harmonic (the default) must leave the fingerprints that earlier campaigns were
    stored under; finite-temperature is new work."""
    from na_lattice_flows.api import screening_maker
    from na_lattice_flows.candidates.fingerprints import settings_fingerprint
    from na_lattice_flows.phonons.jobs import MLPPhononMaker

    plain = screening_maker()
    described = plain.as_dict()
    assert described["phonon_maker"].pop("stability") == "harmonic"
    legacy = type("Legacy", (), {"as_dict": lambda self: described})()
    assert settings_fingerprint(plain) == settings_fingerprint(legacy)
    hot = screening_maker(stability="finite-temperature")
    assert hot.phonon_maker.stability == "finite-temperature" and settings_fingerprint(
        hot
    ) != settings_fingerprint(plain)
    with pytest.raises(
        ValueError, match="stability 'anharmonic': choose from harmonic, finite-temperature"
    ):
        MLPPhononMaker(stability="anharmonic")


def test_the_temperature_grid_option():
    import argparse

    from na_lattice_flows.cli.options import temperature_grid

    assert temperature_grid("300:900:50") == [300.0 + 50 * i for i in range(13)]
    assert temperature_grid("450, 500") == [450.0, 500.0]
    for bad, message in (
        ("0:900:50", "finite number > 0 K"),
        ("900:300:50", "below START"),
        ("300:900", "START:STOP:STEP"),
        ("inf", "finite number"),
        ("300:nan:50", "finite number"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            temperature_grid(bad)


def test_doping_soft_mode_prints_the_series_writes_json_and_figure_and_refuses_bad_input(
    monkeypatch, tmp_path, capsys
):
    import json

    from na_lattice_flows.cli import main
    from na_lattice_flows.cli.common import EXIT_USAGE
    from na_lattice_flows.doping import soft_mode_jobs

    monkeypatch.setattr(soft_mode_jobs, "get_calculator", lambda name, device=None: LJ)
    cell = tmp_path / "bcc.cif"
    BCC.to(filename=str(cell))
    out = tmp_path / "soft.json"
    argv = [
        "doping",
        "soft-mode",
        str(cell),
        "--temperatures",
        "40:60:20",
        "--structures",
        "8",
        "--no-relax",
        "--supercell",
        "3x3x3",
    ]
    assert main([*argv, "--output", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (
        printed == json.loads(out.read_text())
        # one of the star of (0, 0, 1/2), equivalent in cubic bcc: which one a degenerate search returns
        # depends on the machine's rounding ([0, 0, 0.5] on one, [-0.5, 0, 0] on another)
        and sorted(abs(x) for x in printed["qpoint"]) == [0.0, 0.0, 0.5]
        and printed["formula"] == "Ar"
    )
    assert [p["temperature_K"] for p in printed["points"]] == [40.0, 60.0] and printed[
        "supercell_matrix"
    ] == SUPERCELL
    assert (
        printed["transition_temperature_K"] is None
        and "at least 3 converged temperatures, got 2" in printed["note"]
    )
    assert (tmp_path / "soft.png").is_file() and (tmp_path / "soft.svg").is_file()
    for bad, message in (
        (["--temperatures", "0:600:100"], "finite number > 0 K"),
        (["--qpoint", "0.5,0.5"], "three reduced coordinates"),
        (["--output", str(tmp_path)], "a folder; give a file name"),
        (["--structures", "0"], ">= 1"),
    ):
        with (
            pytest.raises(SystemExit)
            if bad[0] in ("--temperatures", "--structures", "--output")
            else contextlib.nullcontext()
        ):
            assert main([*argv, *bad]) == EXIT_USAGE
        assert message in capsys.readouterr().err


def test_a_submitted_soft_mode_series_runs_on_a_worker_and_the_report_draws_it(
    monkeypatch, embedded_settings, tmp_path, capsys
):
    from na_lattice_flows.analysis.report import build_report
    from na_lattice_flows.cli import main
    from na_lattice_flows.cli.common import EXIT_NOTHING_SUBMITTED
    from na_lattice_flows.doping import soft_mode_jobs
    from na_lattice_flows.execution.launching import run_ready_jobs
    from na_lattice_flows.execution.stores import open_session

    monkeypatch.setattr(soft_mode_jobs, "get_calculator", lambda name, device=None: LJ)
    cell = tmp_path / "bcc.cif"
    BCC.to(filename=str(cell))
    argv = [
        "doping",
        "soft-mode",
        str(cell),
        "--temperatures",
        "60",
        "--structures",
        "8",
        "--no-relax",
        "--supercell",
        "3x3x3",
        "--submit",
        "--workdir",
        str(embedded_settings.workdir),
    ]
    assert main(argv) == 0 and "Submitted soft-mode series" in capsys.readouterr().out
    assert main(argv) == EXIT_NOTHING_SUBMITTED and "already submitted" in capsys.readouterr().out
    with open_session(embedded_settings) as session:
        assert run_ready_jobs(session, progress=False) == 1
        assert session.launchpad.fireworks.find_one({})["spec"]["_category"] == "gpu"
        report = build_report(session, tmp_path / "report")
    page = report.path.read_text()
    assert (
        "Soft-mode transition temperatures" in page
        and "effective frequency squared against T" in page
    )
    assert any(p.name == "soft_mode_0.png" for p in report.figures)
