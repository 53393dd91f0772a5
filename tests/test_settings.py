"""One place for defaults: the trajectory folder is the same from every entry point (command line, Python API,
Makers, flows/ scripts), absolute, fixed at submission; environment variables change the defaults everywhere."""

from __future__ import annotations

import json
import re
import runpy
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.cli import main


@pytest.fixture
def nacl_cif(tmp_path) -> Path:
    nacl = next(c for c in demo_candidates() if c.formula == "NaCl")
    path = tmp_path / "inputs" / "nacl.cif"
    path.parent.mkdir()
    nacl.structure.to(filename=str(path))
    return path


def _stored_trajectory_dirs(workdir: Path) -> set[str]:
    with sqlite3.connect(
        workdir / "launchpad.sqlite"
    ) as connection:  # every stored document's text
        text = "\n".join(body for (body,) in connection.execute("SELECT body FROM documents"))
    return set(re.findall(r'\\?"trajectory_dir\\?": \\?"([^"\\]+)', text))


def _entry_point_folders(tmp_path: Path, nacl_cif: Path) -> dict[str, set[str]]:
    """The trajectory folder each entry point records, with everything left at its default."""
    from na_lattice_flows.api import screening_maker
    from na_lattice_flows.dft.gpaw_jobs import GPAWAIMDMaker
    from na_lattice_flows.md.jobs import MLPMDMaker

    cli_store, script_store = tmp_path / "cli_store", tmp_path / "script_store"
    assert (
        main(["submit", str(nacl_cif), "--workdir", str(cli_store), "--phonon-supercells", "2"])
        == 0
    )
    script = runpy.run_path(str(REPO / "flows" / "submit_screening.py"), run_name="imported")[
        "main"
    ]
    script([str(nacl_cif), "--workdir", str(script_store)])
    return {
        "api": {screening_maker().md_maker.trajectory_dir},
        "MLPMDMaker": {MLPMDMaker().trajectory_dir},
        "GPAWAIMDMaker": {GPAWAIMDMaker().trajectory_dir},
        "na-flows submit": _stored_trajectory_dirs(cli_store),
        "flows/submit_screening.py": _stored_trajectory_dirs(script_store),
    }


def test_one_trajectory_folder_from_every_entry_point(tmp_path, monkeypatch, nacl_cif):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(tmp_path / "absent.yaml"))
    for name in ("NA_FLOWS_MONGODB_URI", "NA_FLOWS_TRAJECTORY_DIR"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "work"
    # the store every entry point uses by default
    monkeypatch.setenv("NA_FLOWS_WORKDIR", str(shared))
    folders = _entry_point_folders(tmp_path, nacl_cif)
    expected = str(shared / "trajectories")
    assert folders["api"] == folders["MLPMDMaker"] == folders["GPAWAIMDMaker"] == {expected}
    # an explicit --workdir puts the trajectories beside that store
    assert folders["na-flows submit"] == {str(tmp_path / "cli_store" / "trajectories")}
    assert folders["flows/submit_screening.py"] == {str(tmp_path / "script_store" / "trajectories")}

    # the default store, ./na_flows_work, as an absolute path
    monkeypatch.delenv("NA_FLOWS_WORKDIR")
    assert screening_maker_folder() == str(tmp_path / "na_flows_work" / "trajectories")
    monkeypatch.chdir(tmp_path / "inputs")  # fixed when the Maker is made, not where a worker runs
    assert screening_maker_folder() == str(tmp_path / "inputs" / "na_flows_work" / "trajectories")

    chosen = tmp_path / "scratch"
    monkeypatch.setenv("NA_FLOWS_TRAJECTORY_DIR", str(chosen))
    folders = _entry_point_folders(tmp_path / "again", nacl_cif)
    assert all(found == {str(chosen)} for found in folders.values()), folders


def screening_maker_folder() -> str:
    from na_lattice_flows.api import screening_maker

    return screening_maker().md_maker.trajectory_dir


def test_defaults_follow_the_environment_in_a_new_process(tmp_path):
    code = (
        "import json\n"
        "from na_lattice_flows.api import screening_maker\n"
        "from na_lattice_flows.cli.app import build_parser\n"
        "m = screening_maker()\n"
        "args = build_parser()[0].parse_args(['submit', 'x.csv'])\n"
        "print(json.dumps([m.relax_maker.model, m.phonon_maker.model, m.md_maker.model, m.phonon_maker.temperature_K,"
        " m.md_maker.temperatures_K, m.min_supercell_atoms, args.model, args.temperature_K, args.min_supercell_atoms]))\n"
    )
    env = {
        "NA_FLOWS_DEFAULT_MODEL": "7net-0",
        "NA_FLOWS_TEMPERATURE_K": "600",
        "NA_FLOWS_MIN_SUPERCELL_ATOMS": "100",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [
        "7net-0",
        "7net-0",
        "7net-0",
        600.0,
        [600.0],
        100,
        "7net-0",
        600.0,
        100,
    ]


def test_the_default_model_is_the_winner_of_the_recorded_model_selection():
    """NaFlowsSettings.default_model is the model that benchmarks/model_selection.py's record makes the winner on
    the validation materials (best balanced accuracy, speed breaking ties: choose_model), and the README's table,
    written from the same record, marks the same model."""
    from na_lattice_flows.benchmark.forces import ModelEvaluation, choose_model, summarize_complete
    from na_lattice_flows.settings import NaFlowsSettings

    rows = [
        json.loads(line)
        for line in (REPO / "benchmarks/records/model_selection.jsonl").read_text().splitlines()
        if line.strip()
    ]
    evaluations = [
        ModelEvaluation.model_validate({k: v for k, v in r.items() if k != "set"})
        for r in rows
        if r["set"] == "validation"
    ]
    winner = choose_model(summarize_complete(evaluations)[0].models)
    readme = (REPO / "README.md").read_text()
    table = readme[
        readme.index("<!-- model-selection table: start -->") : readme.index(
            "<!-- model-selection table: end -->"
        )
    ]
    assert re.findall(r"\| \*\*(\S+)\*\* \(default\) \|", table) == [winner]
    assert NaFlowsSettings.model_fields["default_model"].default == winner
    assert f"`NA_FLOWS_DEFAULT_MODEL` | `{winner}`" in readme  # the settings table says so too
