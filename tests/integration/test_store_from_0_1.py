"""A store written by release 0.1 (one flat package) keeps working with this layout: it resumes, reports and
refuses duplicate resubmission.

``tests/data/store_0_1`` was written by release 0.1 (commit 8d93b66) from a worktree of it:

    na-flows submit inputs --workdir store --no-md --phonon-supercells 4 --min-supercell-atoms 16
    na-flows run --workdir store --max-jobs 3
    na-flows results --workdir store --format csv --output results_0_1.csv

which finished Na2S (relaxation, phonons, summary) and left NaCl's three jobs READY. Its FireWorks specs name
0.1's module paths (``na_lattice_flows.jobs``, ``.phonon_jobs``, ``.phonons``, ``.schemas``), and its workflows
carry 0.1's settings fingerprint. The MD step is off so that nothing in it depends on the folder it was made in.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from na_lattice_flows.cli import main
from na_lattice_flows.cli.common import EXIT_NOTHING_SUBMITTED
from na_lattice_flows.execution.results import results_table
from na_lattice_flows.execution.stores import open_session

STORE_0_1 = Path(__file__).resolve().parents[1] / "data" / "store_0_1"
# the settings 0.1 submitted with, its default model included (the default is 7net-0 since 0.3)
OPTIONS_0_1 = [
    "--model",
    "chgnet",
    "--no-md",
    "--phonon-supercells",
    "4",
    "--min-supercell-atoms",
    "16",
]


@pytest.fixture
def store_0_1(tmp_path, monkeypatch):
    monkeypatch.delenv("NA_FLOWS_MONGODB_URI", raising=False)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(tmp_path / "absent.yaml"))
    workdir = tmp_path / "store"
    workdir.mkdir()
    shutil.copy(STORE_0_1 / "launchpad.json", workdir / "launchpad.json")
    shutil.copytree(STORE_0_1 / "jobstore", workdir / "jobstore")
    return workdir


def test_store_from_0_1_resumes_reports_and_refuses_duplicates(store_0_1, tmp_path, capsys):
    workdir = ["--workdir", str(store_0_1)]
    # no import hook: the store's 0.1 module paths were rewritten on opening
    assert main(["run", *workdir]) == 0
    assert "Launched 3 jobs" in capsys.readouterr().out

    from na_lattice_flows.execution.store_config import resolve_settings

    with open_session(resolve_settings(store_0_1)) as session:
        table = results_table(session).set_index("candidate_id")
    assert set(table.index) == {"demo-NaCl", "demo-Na2S"}
    assert (table["state"] == "COMPLETED").all()
    # Na2S was finished by 0.1: its row reads the same as 0.1's own results table
    before = pd.read_csv(STORE_0_1 / "results_0_1.csv").set_index("candidate_id").loc["demo-Na2S"]
    for column in (
        "energy_per_atom_eV",
        "msd_na_avg_A2",
        "acoustic_cutoff_thz",
        "na_pdos_center_thz",
        "supercell_n_atoms",
    ):
        assert table.loc["demo-Na2S", column] == pytest.approx(before[column], rel=1e-9)
    # NaCl was run by this release from 0.1's specs: rock salt is dynamically stable with CHGNet
    assert table.loc["demo-NaCl", "dynamically_stable"]
    assert table.loc["demo-NaCl", "msd_na_avg_A2"] > 0

    report = tmp_path / "report"
    assert main(["report", "--out", str(report), *workdir]) == 0
    page = (report / "index.html").read_text()
    assert "demo-NaCl" in page and "demo-Na2S" in page

    capsys.readouterr()
    assert (
        main(["submit", str(STORE_0_1 / "inputs"), *workdir, *OPTIONS_0_1])
        == EXIT_NOTHING_SUBMITTED
    )
    out = capsys.readouterr().out
    assert "0 flows submitted" in out
    assert out.count("already submitted with the same settings") == 2


def test_other_settings_on_a_0_1_store_are_new_work(store_0_1, capsys):
    assert (
        main(
            [
                "submit",
                str(STORE_0_1 / "inputs"),
                "--workdir",
                str(store_0_1),
                "--no-md",
                "--phonon-supercells",
                "5",
                "--min-supercell-atoms",
                "16",
            ]
        )
        == 0
    )
    assert "2 flows submitted" in capsys.readouterr().out


def test_opening_a_0_1_store_rewrites_its_module_paths_once(store_0_1):
    from na_lattice_flows.execution.store_config import resolve_settings
    from na_lattice_flows.execution.store_migration import MIGRATIONS_COLLECTION, old_module_paths
    from na_lattice_flows.execution.stores import _embedded_databases

    settings = resolve_settings(store_0_1)
    with open_session(settings, read_only=True):
        pass
    clients, (launchpad, outputs) = _embedded_databases(settings, read_only=True)
    assert old_module_paths([launchpad, outputs]) == 0
    specs = json.dumps([fw["spec"] for fw in launchpad["fireworks"].find({})], default=str)
    assert (
        '"na_lattice_flows.phonon_jobs"' not in specs and '"na_lattice_flows.phonons.jobs"' in specs
    )
    (marker,) = outputs[MIGRATIONS_COLLECTION].find({})
    # 0.1 wrote only old ones
    in_specs = (STORE_0_1 / "launchpad.json").read_text().count('"@module": "na_lattice_flows.')
    assert marker["paths_rewritten"] > in_specs  # the job outputs' documents too
    for client in clients:
        client.close()


def test_every_0_1_name_has_a_current_module():
    import importlib

    from na_lattice_flows.legacy_paths import OLD_MODULES, current_module, rewrite_module_paths

    for (
        old,
        new_modules,
        # every name a 0.1 module's successors define is found by its old path
    ) in OLD_MODULES.items():
        for new in new_modules:
            target = importlib.import_module(f"na_lattice_flows.{new}")
            for name, value in vars(target).items():
                if (
                    not name.startswith("_")
                    and getattr(value, "__module__", None) == target.__name__
                ):
                    assert current_module(f"na_lattice_flows.{old}", name) is not None, (
                        f"{old}.{name}"
                    )
    document = {
        "job": {
            "function": {
                "@module": "na_lattice_flows.phonon_jobs",
                "@callable": "MLPPhononMaker.make",
            }
        },
        "items": [{"@module": "na_lattice_flows.phonons", "@class": "PhononDescriptors"}],
        "current": {"@module": "na_lattice_flows.phonons.jobs", "@class": "MLPPhononMaker"},
        "unknown": {"@module": "na_lattice_flows.md_jobs", "@class": "NoSuchName"},
    }
    rewritten, count = rewrite_module_paths(document)
    assert count == 2
    assert rewritten["job"]["function"]["@module"] == "na_lattice_flows.phonons.jobs"
    assert rewritten["items"][0]["@module"] == "na_lattice_flows.phonons.descriptors"
    assert (
        rewritten["current"] == document["current"] and rewritten["unknown"] == document["unknown"]
    )
