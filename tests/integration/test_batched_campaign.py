"""A campaign submitted with ``--phonon-batch``: one workflow per group, phonon forces from one batched job, and
still one results row per candidate, its failures named, its resubmission (batched or not) recognised."""

from __future__ import annotations

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from na_lattice_flows.api import screening_maker
from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.candidates.loaders import Candidate, LoadResult
from na_lattice_flows.candidates.screen import screen_candidates
from na_lattice_flows.execution.launching import run_ready_jobs
from na_lattice_flows.execution.queries import phonon_output
from na_lattice_flows.execution.results import failures_table, results_table
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import submit_candidates


@pytest.fixture(scope="module")
def batched_campaign(tmp_path_factory):
    from na_lattice_flows.execution.store_config import resolve_settings

    settings = resolve_settings(workdir=tmp_path_factory.mktemp("batched") / "work")
    demo = {c.candidate_id: c for c in demo_candidates()}
    unsupported = Candidate(
        candidate_id="bad-NaOg",
        source="test",
        structure=Structure(Lattice.cubic(5.0), ["Na", "Og"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    )
    candidates = LoadResult(candidates=[demo["demo-NaCl"], unsupported, demo["demo-Na3OCl"]])
    maker = screening_maker(model="7net-0", phonon_supercells=2, fmax=0.05, md=False)
    with open_session(settings) as session:
        record = submit_candidates(
            session, screen_candidates(candidates), ["demo subset"], maker, phonon_batch=3
        )
        launched = run_ready_jobs(session, progress=False)
    return settings, record, launched, maker, candidates


def test_the_group_is_one_workflow_and_each_candidate_has_its_row(batched_campaign):
    settings, record, launched, _, _ = batched_campaign
    assert (
        set(record.submitted) == {"demo-NaCl", "bad-NaOg", "demo-Na3OCl"}
        and len(set(record.submitted.values())) == 1
    )
    # 3 relaxations (one fails), the batch, a member job and a summary for each of the two relaxed
    # the failed candidate's member job runs and fails: it names the reason
    assert launched == 3 + 1 + 2 * 2 + 1
    with open_session(settings) as session:
        table = results_table(session).set_index("candidate_id")
        failures = failures_table(session).set_index("job")
        batch_document = phonon_output(session, "demo-NaCl")
    for cid in ("demo-NaCl", "demo-Na3OCl"):
        row = table.loc[cid]
        assert row.state == "COMPLETED" and row.model == "7net-0" and pd.isna(row.error)
        assert (
            row.dynamically_stable in (True, False) and 0 < row.msd_na_avg_A2 <= row.msd_na_max_A2
        )
        assert row.phonon_model == "7net-0" and row.supercell_n_atoms >= 80
    bad = table.loc["bad-NaOg"]
    assert (
        bad.state == "FIZZLED"
        and "no relaxed structure (its relaxation failed)" in bad.error
        and "relax" in bad.error
    )
    assert failures.loc["phonons of bad-NaOg"].candidate_id == "bad-NaOg"
    assert {"demo-NaCl", "demo-Na3OCl"}.isdisjoint(set(failures.candidate_id))
    assert (
        batch_document["output"]["candidate_id"] == "demo-NaCl"
        and len(batch_document["output"]["force_constants"]) > 0
    )


def test_resubmission_batched_or_not_finds_every_candidate(batched_campaign):
    settings, _, _, maker, candidates = batched_campaign
    with open_session(settings) as session:
        for phonon_batch in (None, 2):
            record = submit_candidates(
                session, screen_candidates(candidates), ["again"], maker, phonon_batch=phonon_batch
            )
            assert record.submitted == {}
            assert {
                r.candidate_id
                for r in record.rejections
                if r.reason.startswith("already submitted")
            } == {"demo-NaCl", "bad-NaOg", "demo-Na3OCl"}


def test_batching_needs_a_torchsim_model_and_the_phonon_step(embedded_settings):
    with open_session(embedded_settings) as session:
        report = screen_candidates(LoadResult(candidates=demo_candidates()[:1]))
        with pytest.raises(ValueError, match="torch-sim"):
            submit_candidates(
                session, report, ["x"], screening_maker(model="chgnet", md=False), phonon_batch=2
            )
        with pytest.raises(ValueError, match="phonon step"):
            submit_candidates(
                session,
                report,
                ["x"],
                screening_maker(model="7net-0", phonons=False, md=False),
                phonon_batch=2,
            )
        assert session.launchpad.workflows.count_documents({}) == 0
