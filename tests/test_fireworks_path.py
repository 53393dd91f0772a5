"""Screening flows through the production path on the embedded default: flow_to_workflow -> LaunchPad ->
rocket launcher -> JobStore. The relaxed results are checked with an independent CHGNet evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.candidates import Candidate, LoadResult
from na_lattice_flows.demo_set import demo_candidates
from na_lattice_flows.execution import fw_state_counts, run_ready_jobs, submit_candidates
from na_lattice_flows.jobs import MLPRelaxMaker
from na_lattice_flows.phonon_jobs import MLPPhononMaker
from na_lattice_flows.results import rejections_table, results_table, summary_documents
from na_lattice_flows.screening import screen_candidates
from na_lattice_flows.stores import open_session
from na_lattice_flows.workflows import ScreeningFlowMaker

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
    from na_lattice_flows.stores import resolve_settings

    settings = resolve_settings(workdir=tmp_path_factory.mktemp("campaign") / "work")
    unsupported = Candidate(
        candidate_id="bad-NaOg",
        structure=Structure(Lattice.cubic(5.0), ["Na", "Og"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        source="test",
    )
    candidates = LoadResult(candidates=[small_demo("NaCl")[0], unsupported, small_demo("Na3OCl")[0]])
    flow_maker = ScreeningFlowMaker(
        relax_maker=MLPRelaxMaker(relax_kwargs={"fmax": FMAX}), phonon_maker=MLPPhononMaker(n_supercells=4)
    )
    with open_session(settings) as session:
        record = submit_candidates(session, screen_candidates(candidates), ["demo subset"], flow_maker)
        launched = run_ready_jobs(session, progress=False)
    return settings, record, launched


def test_flows_complete_and_record_their_results(finished_campaign):
    settings, record, launched = finished_campaign
    assert set(record.submitted) == {"demo-NaCl", "bad-NaOg", "demo-Na3OCl"}
    with open_session(settings) as session:
        table = results_table(session).set_index("candidate_id")
        counts = fw_state_counts(session)
    assert launched == 7  # 2 x (relax, phonons, summary) + the relax that fails; its children never become ready
    assert counts == {"COMPLETED": 6, "FIZZLED": 1, "WAITING": 2}
    for cid in ("demo-NaCl", "demo-Na3OCl"):
        row = table.loc[cid]
        assert row.state == "COMPLETED" and row.model == "chgnet" and row.relax_converged
        assert row.supercell_n_atoms >= 80
        assert row.dynamically_stable in (True, False) and 0 < row.msd_na_avg_A2 <= row.msd_na_max_A2


def test_failed_structure_keeps_its_error_and_does_not_stop_the_others(finished_campaign):
    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        row = results_table(session).set_index("candidate_id").loc["bad-NaOg"]
    assert row.state == "FIZZLED"
    assert row.error.startswith("mlp relax bad-NaOg: RuntimeError")


def test_relaxed_structures_are_minima_of_an_independent_chgnet_evaluation(finished_campaign, chgnet_calculator):
    settings, _, _ = finished_campaign
    with open_session(settings) as session:
        docs = summary_documents(session)
    for cid in ("demo-NaCl", "demo-Na3OCl"):
        doc = docs[cid]
        atoms = AseAtomsAdaptor.get_atoms(Structure.from_dict(doc["relaxed_structure"]))
        atoms.calc = chgnet_calculator
        assert atoms.get_potential_energy() / len(atoms) == pytest.approx(doc["energy_per_atom_eV"], abs=2e-4)
        assert np.abs(atoms.get_forces()).max() < 2 * FMAX
        assert np.abs(atoms.get_stress()[:3]).max() < 0.01  # eV/A^3 (~1.6 GPa): cell relaxed too
    # CHGNet is fitted to PBE, which overestimates NaCl's lattice constant (experiment 5.64 A, PBE ~5.69-5.70 A)
    a = Structure.from_dict(docs["demo-NaCl"]["relaxed_structure"]).lattice.a
    assert 5.64 < a < 5.76
    assert docs["demo-NaCl"]["space_group_relaxed"] == "Fm-3m"


def test_resubmission_is_skipped_unless_forced(finished_campaign):
    settings, _, _ = finished_campaign
    report = screen_candidates(LoadResult(candidates=small_demo("NaCl")))
    with open_session(settings) as session:
        before = session.launchpad.workflows.count_documents({})
        again = submit_candidates(session, report, ["again"])
        assert again.submitted == {}
        assert again.rejections[0].reason.startswith("already submitted")
        assert session.launchpad.workflows.count_documents({}) == before
        rejected = rejections_table(session)
    assert "demo-NaCl" in set(rejected.candidate_id)
