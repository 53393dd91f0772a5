"""`na-flows validate`: the AIMD validation of the top hits, from the command line, on what the store holds."""

from __future__ import annotations

import json

import pytest

from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.cli import main
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.workflow.names import SUMMARY_JOB_NAME


def _store_summaries(settings, d_values: dict[str, float], trajectory: str) -> None:
    """Finished screening summaries as the summary job stores them: relaxed structure and MD transport."""
    structures = {c.candidate_id: c.structure for c in demo_candidates()}
    with open_session(settings) as session:
        store = session.job_store
        store.connect()
        for index, (candidate_id, d_value) in enumerate(d_values.items()):
            output = {
                "candidate_id": candidate_id,
                "formula": structures[candidate_id].composition.reduced_formula,
                "relaxed_structure": structures[candidate_id].as_dict(),
                "transport": {
                    "D_avg_A2_per_ps": d_value,
                    "melted": False,
                    "reference_trajectory_path": trajectory,
                },
            }
            store.update(
                {
                    "uuid": f"summary-{index}",
                    "index": 1,
                    "name": SUMMARY_JOB_NAME,
                    "output": output,
                    "completed_at": f"2026-01-0{index + 1}",
                },
                key=["uuid", "index"],
            )


def test_validate_submit_adds_aimd_of_the_top_hits_for_cpu_workers(
    embedded_settings, tmp_path, capsys
):
    workdir = ["--workdir", str(embedded_settings.workdir)]
    assert main(["validate", "submit", "--engine", "gpaw", *workdir]) == 2
    assert "no structures to validate" in capsys.readouterr().err

    _store_summaries(
        embedded_settings,
        {"demo-NaCl": 0.01, "demo-Na3PS4": 0.3, "demo-Na2S": 0.05},
        str(tmp_path / "md.h5"),
    )
    assert (
        main(
            [
                "validate",
                "submit",
                "--top",
                "2",
                "--engine",
                "gpaw",
                "--steps",
                "40",
                "--temperature",
                "700",
                *workdir,
            ]
        )
        == 0
    )
    assert "AIMD (gpaw) of the top 2 structures" in capsys.readouterr().out
    with open_session(embedded_settings) as session:
        jobs = {
            fw["name"]: fw for fw in session.launchpad.fireworks.find({}, {"name": 1, "spec": 1})
        }
    aimd = {name for name in jobs if name.startswith("gpaw aimd")}
    assert aimd == {"gpaw aimd demo-Na3PS4", "gpaw aimd demo-Na2S"}  # the two largest D, not NaCl
    assert {name for name in jobs if name.startswith("mlp vs aimd")} == {
        "mlp vs aimd demo-Na3PS4",
        "mlp vs aimd demo-Na2S",
    }
    spec = jobs["gpaw aimd demo-Na2S"]["spec"]
    assert spec["_category"] == "cpu"
    text = json.dumps(spec)
    assert '"temperature_K": 700.0' in text and '"n_production_steps": 40' in text
    assert str(embedded_settings.workdir / "trajectories") in text  # the store's trajectory folder

    with pytest.raises(SystemExit):
        main(["validate", "submit", "--engine", "cp2k", *workdir])
    assert main(["validate", "submit", "--top", "0", *workdir]) == 2


def test_validate_results_lists_the_comparisons(embedded_settings, capsys):
    from na_lattice_flows.execution.stores import open_session

    workdir = ["--workdir", str(embedded_settings.workdir)]
    with open_session(embedded_settings):
        pass  # an empty store: `validate results` refuses a folder without one
    assert main(["validate", "results", *workdir]) == 0
    assert "(no rows)" in capsys.readouterr().out
    comparison = {
        "candidate_id": "demo-Na2S",
        "element": "Na",
        "aimd_engine": "gpaw",
        "temperature_K": 800.0,
        "D_mlp_A2_per_ps": 0.06,
        "D_aimd_A2_per_ps": 0.04,
        "D_ratio_mlp_over_aimd": 1.5,
        "D_max_mlp_A2_per_ps": 0.07,
        "D_max_aimd_A2_per_ps": 0.05,
        "aimd_melted": False,
        "mlp_trajectory_path": "m.h5",
        "aimd_trajectory_paths": ["a.h5"],
    }
    with open_session(embedded_settings) as session:
        session.job_store.connect()
        session.job_store.update(
            {
                "uuid": "v",
                "index": 1,
                "name": "mlp vs aimd demo-Na2S",
                "output": comparison,
                "completed_at": "2026-01-01",
            },
            key=["uuid", "index"],
        )
    assert main(["validate", "results", "--format", "json", *workdir]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["candidate_id"], r["D_ratio_mlp_over_aimd"]) for r in rows] == [("demo-Na2S", 1.5)]
