"""A workflow whose MD has not run (waiting, paused by a campaign, running) already has its screen's verdict:
``results`` shows its phonon step's descriptors before the summary exists, and only those of its own workflow
(a structure submitted again shows nothing until its own phonon step has run)."""

from __future__ import annotations

import pandas as pd

from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.candidates.loaders import LoadResult
from na_lattice_flows.candidates.screen import screen_candidates
from na_lattice_flows.execution.launching import run_ready_jobs
from na_lattice_flows.execution.results import results_table
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import submit_candidates
from na_lattice_flows.md.jobs import MLPMDMaker
from na_lattice_flows.phonons.jobs import MLPPhononMaker
from na_lattice_flows.relax.jobs import MLPRelaxMaker
from na_lattice_flows.workflow.screening import ScreeningFlowMaker


def test_the_phonon_verdict_shows_before_the_md_and_only_in_its_own_workflow(
    embedded_settings, tmp_path
):
    nacl = [c for c in demo_candidates() if c.candidate_id == "demo-NaCl"]
    maker = ScreeningFlowMaker(
        relax_maker=MLPRelaxMaker(model="chgnet", steps=5),
        phonon_maker=MLPPhononMaker(model="chgnet", n_supercells=2),
        md_maker=MLPMDMaker(
            model="chgnet", preset="short", trajectory_dir=str(tmp_path), use_kinisi=False
        ),
    )
    with open_session(embedded_settings) as session:
        submit_candidates(session, screen_candidates(LoadResult(candidates=nacl)), ["test"], maker)
        phonons = lambda: session.launchpad.fireworks.find_one(
            {"name": {"$regex": "^mlp phonons "}}, {"state": 1}
        )["state"]
        for _ in range(6):  # relaxation, phonons (and nothing of the MD)
            if phonons() == "COMPLETED":
                break
            run_ready_jobs(session, max_jobs=1, progress=False)
        assert phonons() == "COMPLETED"
        first = results_table(session)
        assert len(first) == 1 and first["state"].iloc[0] != "COMPLETED"
        assert pd.notna(first["dynamically_stable"].iloc[0])
        assert pd.notna(first["min_frequency_thz"].iloc[0]) and pd.notna(
            first["msd_na_avg_A2"].iloc[0]
        )
        assert pd.isna(first["D_avg_A2_per_ps"].iloc[0])

        # submitted again (another campaign): its row shows nothing yet, the first keeps its verdict
        submit_candidates(
            session, screen_candidates(LoadResult(candidates=nacl)), ["again"], maker, force=True
        )
        both = results_table(session).sort_values("campaign_id")
        assert len(both) == 2
        assert both["dynamically_stable"].notna().tolist() == [True, False]
