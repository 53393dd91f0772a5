"""Screening flows through the production path on the embedded default: flow_to_workflow -> LaunchPad ->
rocket launcher -> JobStore. The relaxed results are checked with an independent CHGNet evaluation."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.candidates.loaders import Candidate, LoadResult
from na_lattice_flows.candidates.screen import screen_candidates
from na_lattice_flows.execution.launching import fw_state_counts, run_ready_jobs
from na_lattice_flows.execution.queries import summary_documents
from na_lattice_flows.execution.results import results_table
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import submit_candidates
from na_lattice_flows.md.jobs import MLPMDMaker
from na_lattice_flows.phonons.jobs import MLPPhononMaker
from na_lattice_flows.relax.jobs import MLPRelaxMaker
from na_lattice_flows.workflow.screening import ScreeningFlowMaker

FMAX = 0.01


@pytest.fixture(scope="module")
def chgnet_calculator():
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(use_device="cpu")


def small_demo(*names):
    return [c for c in demo_candidates() if c.candidate_id.removeprefix("demo-") in names]


@pytest.fixture(scope="module")
def finished_campaign(tmp_path_factory):
    """Two demo structures relaxed through FireWorks, between them one that CHGNet cannot evaluate
    (oganesson is beyond its element table), submitted in the same campaign."""
    from na_lattice_flows.execution.store_config import resolve_settings

    settings = resolve_settings(workdir=tmp_path_factory.mktemp("campaign") / "work")
    unsupported = Candidate(
        candidate_id="bad-NaOg",
        structure=Structure(Lattice.cubic(5.0), ["Na", "Og"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        source="test",
    )
    candidates = LoadResult(
        candidates=[small_demo("NaCl")[0], unsupported, small_demo("Na3OCl")[0]]
    )
    md = MLPMDMaker(
        model="chgnet",
        preset="short",
        overrides={
            "n_equilibration_steps": 20,
            "n_production_steps": 100,
            "checkpoint_interval_steps": 50,
        },
        trajectory_dir=str(tmp_path_factory.mktemp("trajectories")),
        use_kinisi=False,
    )
    flow_maker = ScreeningFlowMaker(  # CHGNet, the fastest on CPU: this tests the production path, not the model
        relax_maker=MLPRelaxMaker(model="chgnet", relax_kwargs={"fmax": FMAX}),
        phonon_maker=MLPPhononMaker(model="chgnet", n_supercells=4),
        md_maker=md,
    )
    with open_session(settings) as session:
        record = submit_candidates(
            session, screen_candidates(candidates), ["demo subset"], flow_maker
        )
        launched = run_ready_jobs(session, progress=False)
    return settings, record, launched


def test_flows_complete_and_record_their_results(finished_campaign):
    settings, record, launched = finished_campaign
    assert set(record.submitted) == {"demo-NaCl", "bad-NaOg", "demo-Na3OCl"}
    with open_session(settings) as session:
        table = results_table(session).set_index("candidate_id")
        counts = fw_state_counts(session)
    # per structure: relax, phonons, MD gate, summary; a stable one adds MD, transport summary and jobflow's
    # store_inputs (which carries the replaced gate's output); the relax that fails leaves 3 jobs waiting
    stable = int(table.loc["demo-NaCl"].dynamically_stable) + int(
        table.loc["demo-Na3OCl"].dynamically_stable
    )
    assert launched == 2 * 4 + 3 * stable + 1
    assert counts == {"COMPLETED": 2 * 4 + 3 * stable, "FIZZLED": 1, "WAITING": 3}
    for cid in ("demo-NaCl", "demo-Na3OCl"):
        row = table.loc[cid]
        assert row.state == "COMPLETED" and row.model == "chgnet" and row.relax_converged
        assert row.supercell_n_atoms >= 80
        assert (
            row.dynamically_stable in (True, False) and 0 < row.msd_na_avg_A2 <= row.msd_na_max_A2
        )
        assert 0 < row.packing_fraction < 1 and row.volume_per_atom_A3 == pytest.approx(
            1 / row.number_density_per_A3
        )
    assert table.loc["demo-NaCl"].mean_na_coordination == 6  # rock salt: octahedral Na
    nacl = table.loc[
        "demo-NaCl"
    ]  # stable: MD ran; 150 fs is too short for the melt filter's D criterion
    assert nacl.dynamically_stable and pd.isna(nacl.melted) and np.isfinite(nacl.D_avg_A2_per_ps)
    assert nacl.D_max_A2_per_ps >= nacl.D_avg_A2_per_ps * 0.999 and nacl.na_vdos_center_thz > 0
    assert pd.isna(nacl.md_skipped_reason)


def test_md_trajectories_are_files_and_curves_go_to_the_data_store(finished_campaign):
    from na_lattice_flows.md.trajectory import read_trajectory

    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        store = session.job_store
        store.connect()
        doc = store.query_one({"name": {"$regex": "^mlp md demo-NaCl"}}, load=True)
    output = doc["output"]
    trajectory = read_trajectory(output["trajectory_path"])
    # 100 steps, a frame every 4, and step 0
    assert trajectory.n_frames == 26 and trajectory.velocities is not None
    assert len(output["curves"]["times_ps"]) == 26 and "msd_xyz_Na" in output["curves"]


def test_unstable_structures_leave_the_md_queue():
    from na_lattice_flows.md.jobs import md_if_stable

    structure = small_demo("NaCl")[0].structure
    gate = md_if_stable.original(
        {
            "dynamically_stable": False,
            "min_frequency_thz": -1.25,
            "min_frequency_qpoint": [0.5, 0, 0],
        },
        structure,
        "x",
        MLPMDMaker(),
    )
    assert (
        gate.skipped_reason == "dynamically unstable: min frequency -1.250 THz at q = [0.5, 0, 0]"
        and gate.D_avg_A2_per_ps is None
    )
    stable = md_if_stable.original(
        {"dynamically_stable": True, "min_frequency_thz": 0.0}, structure, "x", MLPMDMaker()
    )
    assert stable.replace is not None and any(
        job.name.startswith("mlp md x 800K") for job in stable.replace.jobs
    )


def test_failed_structure_keeps_its_error_and_does_not_stop_the_others(finished_campaign):
    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        row = results_table(session).set_index("candidate_id").loc["bad-NaOg"]
    assert row.state == "FIZZLED"
    assert row.error.startswith("mlp relax bad-NaOg: RuntimeError")


def test_relaxed_structures_are_minima_of_an_independent_chgnet_evaluation(
    finished_campaign, chgnet_calculator
):
    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        docs = summary_documents(session)
    for cid in ("demo-NaCl", "demo-Na3OCl"):
        doc = docs[cid]
        atoms = AseAtomsAdaptor.get_atoms(Structure.from_dict(doc["relaxed_structure"]))
        atoms.calc = chgnet_calculator
        assert atoms.get_potential_energy() / len(atoms) == pytest.approx(
            doc["energy_per_atom_eV"], abs=2e-4
        )
        assert np.abs(atoms.get_forces()).max() < 2 * FMAX
        assert np.abs(atoms.get_stress()[:3]).max() < 0.01  # eV/A^3 (~1.6 GPa): cell relaxed too
    # CHGNet is fitted to PBE, which overestimates NaCl's lattice constant (experiment 5.64 A, PBE ~5.69-5.70 A)
    a = Structure.from_dict(docs["demo-NaCl"]["relaxed_structure"]).lattice.a
    assert 5.64 < a < 5.76
    assert docs["demo-NaCl"]["space_group_relaxed"] == "Fm-3m"


def test_a_failed_structure_keeps_its_traceback_and_the_summary_says_why(finished_campaign, capsys):
    from na_lattice_flows.cli import main
    from na_lattice_flows.execution.results import failures_table, query_results

    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        failures = failures_table(session)
        table = results_table(session).set_index("candidate_id")
        fizzled = query_results(session, state="fizzled")
    [failure] = failures.itertuples()
    assert failure.candidate_id == "bad-NaOg" and failure.job == "mlp relax bad-NaOg"
    assert failure.traceback.startswith("Traceback") and failure.error in failure.traceback
    assert failure.launch_dir.startswith(str(settings.runs_dir))
    assert table.loc["bad-NaOg"].error == f"mlp relax bad-NaOg: {failure.error}"
    assert pd.isna(table.loc["demo-NaCl"].error) and list(fizzled.candidate_id) == ["bad-NaOg"]
    main(["status", "--workdir", str(settings.workdir)])
    assert (
        f"bad-NaOg 'mlp relax bad-NaOg' (fw {failure.fw_id}): {failure.error}"
        in capsys.readouterr().out
    )


def test_result_filters(finished_campaign, capsys):
    from na_lattice_flows.cli import main
    from na_lattice_flows.execution.results import query_results

    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        table = results_table(session)
        stable = query_results(session, dynamically_stable=True)
        unstable = query_results(session, dynamically_stable=False)
        solid = query_results(session, melted=False)
        fast = query_results(session, min_D_A2_per_ps=0.0)
        with pytest.raises(ValueError, match="D_column"):
            query_results(session, D_column="D_x")
    known = table[table.dynamically_stable.notna()]
    # the failed structure has no phonons: in neither
    assert len(stable) + len(unstable) == len(known) == 2
    # MD ran for the stable ones, too short (0.15 ps) for the melted filter to tell: unknown is left out by it
    assert table.melted.isna().all() and solid.empty
    # the table a user reads first marks those figures as unconverged, and says why
    with_md = table[pd.to_numeric(table.D_avg_A2_per_ps).notna()]
    assert with_md.transport_converged.eq(False).all()
    assert with_md.transport_note.str.startswith("0.15 ps of production < 10 ps").all()
    # ... and the command says so, instead of an empty table alone
    n_md = int(pd.to_numeric(table.D_avg_A2_per_ps).notna().sum())
    assert n_md >= 1
    assert main(["results", "--not-melted", "--workdir", str(settings.workdir)]) == 0
    assert f"note: {n_md} structures with MD are left out: their runs are shorter than 10 ps" in (
        capsys.readouterr().err
    )
    assert set(fast.candidate_id) == set(
        table[pd.to_numeric(table.D_avg_A2_per_ps).notna()].candidate_id
    )


def test_report_of_a_small_campaign_renders_and_says_what_it_cannot_compute(
    finished_campaign, tmp_path
):
    """Two structures and a failure: figures from the stored force constants and MD curves, the statistics
    declined with their reasons, the failure listed; the page renders in headless Chromium."""
    from report_helpers import body_counts, rendered_dom

    from na_lattice_flows.analysis.report import build_report
    from na_lattice_flows.cli import main

    settings, record, _ = finished_campaign
    with open_session(settings) as session:
        report = build_report(session, tmp_path / "report", campaign_id=record.campaign_id)
        table = results_table(session).set_index("candidate_id")
    stable = [cid for cid in ("demo-NaCl", "demo-Na3OCl") if table.loc[cid].dynamically_stable]
    names = {p.name for p in report.figures}
    assert {f"dispersion_msd_{cid}.png" for cid in stable} | {
        f"dispersion_coupling_{cid}.svg" for cid in stable
    } <= names
    assert "msd_curves.png" in names and "d_vs_na_msd.svg" in names
    assert any(
        reason.startswith(f"correlations: {len(stable)} structures with D (need 3)")
        for reason in report.cannot_compute
    )
    assert any("a model needs >= 6 structures" in reason for reason in report.cannot_compute)
    assert any(
        reason.startswith("converged D: MD production runs of 0.15 ps")
        for reason in report.cannot_compute
    )
    assert report.model_paths == []
    exported = pd.read_csv(report.path.parent / "tables" / f"{record.campaign_id}.csv").set_index(
        "candidate_id"
    )
    assert (
        set(exported.index) == set(record.submitted)
        and exported.loc["demo-NaCl", "md_preset"] == "short"
    )
    assert (
        exported.loc["demo-NaCl", "fc_method"] == "symfc"
        and exported.loc["demo-NaCl", "md_engine"] == "ase"
    )
    dom = rendered_dom(report.path)
    counts = body_counts(dom)
    assert (
        counts["loaded"] == counts["expected"] == len(report.figures) // 2 and counts["broken"] == 0
    )
    failures = re.search(
        r'<table class="sortable" id="failures"[^>]*>(.*?)</table>', dom, re.DOTALL
    ).group(1)
    assert "bad-NaOg" in failures and "RuntimeError" in failures
    with (
        open_session(settings) as session,
        pytest.raises(ValueError, match="campaign 'nope' not in the store"),
    ):
        build_report(session, tmp_path / "other", campaign_id="nope")
    # the whole table, provenance included, from the results command too
    assert (
        main(
            [
                "results",
                "--format",
                "parquet",
                "--output",
                str(tmp_path / "all.parquet"),
                "--workdir",
                str(settings.workdir),
            ]
        )
        == 0
    )
    assert (
        pd.read_parquet(tmp_path / "all.parquet")
        .set_index("candidate_id")
        .loc["demo-NaCl", "md_friction_per_ps"]
        == 10.0
    )


def test_predict_ranks_the_stores_structures(finished_campaign, tmp_path, capsys):
    """A model (trained on a synthetic table) ranks the campaign's structures straight from the store."""
    import json

    from synthetic_tables import linear_truth

    from na_lattice_flows.analysis.ml import train_diffusion_models
    from na_lattice_flows.cli import main

    settings, _, _ = finished_campaign
    model_path = train_diffusion_models(linear_truth(60)).save(tmp_path / "model.joblib")
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_path),
                "--all",
                "--format",
                "json",
                "--workdir",
                str(settings.workdir),
            ]
        )
        == 0
    )
    ranking = {row["candidate_id"]: row for row in json.loads(capsys.readouterr().out)}
    with open_session(settings) as session:
        table = results_table(session).set_index("candidate_id")
    stable = {cid for cid in ("demo-NaCl", "demo-Na3OCl") if table.loc[cid].dynamically_stable}
    assert {cid for cid, row in ranking.items() if row["rank"] is not None} == stable
    assert ranking["bad-NaOg"]["note"] == "no phonon descriptors yet"
    for cid in stable:
        assert ranking[cid]["measured_D_A2_per_ps"] == pytest.approx(table.loc[cid].D_avg_A2_per_ps)
