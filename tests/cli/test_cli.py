"""The na-flows command: help on every subcommand, clear errors, submit/status/results, and the demo."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure
from report_helpers import body_counts, rendered_dom

from na_lattice_flows.cli.app import build_parser, main

COMMANDS = build_parser()[1]

NA_FLOWS = shutil.which("na-flows", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    assert exit_info.value.code == 0
    assert "usage: na-flows" in capsys.readouterr().out


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    assert main(["submit", str(tmp_path / "nowhere.csv"), "--workdir", str(tmp_path / "w")]) == 2
    assert (
        f"na-flows submit: error: {tmp_path / 'nowhere.csv'}: no such file or folder"
        in capsys.readouterr().err
    )
    assert main(["submit", "--workdir", str(tmp_path / "w")]) == 2


def test_submit_folder_reports_bad_files_and_queues_the_rest(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NA_FLOWS_MONGODB_URI", raising=False)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(tmp_path / "absent.yaml"))
    folder = tmp_path / "inputs"
    folder.mkdir()
    Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).to(filename=str(folder / "NaCl.cif"))
    Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.29), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).to(filename=str(folder / "KCl.cif"))
    (folder / "garbage.vasp").write_text("not a poscar\n")
    workdir = str(tmp_path / "w")
    assert main(["submit", str(folder), "--workdir", workdir]) == 0
    out = capsys.readouterr().out
    assert "1 flows submitted, 2 structures not submitted" in out
    assert "KCl" in out and "no Na" in out
    assert "garbage" in out and "unreadable file" in out

    assert main(["status", "--workdir", workdir]) == 0
    # phonons, MD gate, summary
    assert "1 structures (workflows); jobs: READY 1, WAITING 3" in capsys.readouterr().out
    assert main(["results", "--rejected", "--format", "json", "--workdir", workdir]) == 0
    rejected = json.loads(capsys.readouterr().out)
    assert {r["candidate_id"] for r in rejected} == {"KCl", "garbage"}


@pytest.mark.parametrize(
    "md_steps",
    [
        # slow both: the default run keeps the same flows on the demo set through FireWorks (integration/test_fireworks_path)
        # 2 min
        pytest.param(
            ["--md-equilibration-steps", "20", "--md-production-steps", "60"],
            marks=pytest.mark.slow,
            id="80-md-steps",
        ),
        # the demo's short preset, 400 steps (4 min)
        pytest.param([], marks=pytest.mark.slow, id="as-in-the-readme"),
    ],
)
def test_demo_end_to_end_through_the_installed_command(tmp_path, md_steps):
    """README command (1) minus the install: the demo relaxes the built-in set and results shows it."""
    demo_args = ["--workdir", str(tmp_path / "work"), *md_steps]
    demo = subprocess.run(
        [NA_FLOWS, "demo", *demo_args], capture_output=True, text=True, cwd=tmp_path, timeout=1200
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "5 flows submitted" in demo.stdout
    launched = re.search(r"Launched (\d+) jobs; job states now: COMPLETED (\d+)\n", demo.stdout)
    assert launched and launched.group(1) == launched.group(2), demo.stdout[-2000:]

    results = subprocess.run(
        [NA_FLOWS, "results", "--format", "json", "--workdir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    rows = {row["candidate_id"]: row for row in json.loads(results.stdout)}
    assert set(rows) == {"demo-NaCl", "demo-Na2S", "demo-Na3OCl", "demo-Na3PS4", "demo-Na3SbS4"}
    for row in rows.values():
        assert row["state"] == "COMPLETED" and row["model"] == "chgnet"
        assert -6.0 < row["energy_per_atom_eV"] < -2.0
        assert row["supercell_n_atoms"] >= 80
        assert row["msd_na_avg_A2"] > 0 and row["dynamically_stable"] in (True, False)
    # rock salt is dynamically stable, as experiment and DFT (phononDB) say
    assert rows["demo-NaCl"]["dynamically_stable"] is True
    # relax, phonons, MD gate, summary each; a stable structure adds MD, its transport summary and store_inputs
    stable = [row for row in rows.values() if row["dynamically_stable"]]
    assert int(launched.group(1)) == 5 * 4 + 3 * len(stable)
    for row in rows.values():
        if row["dynamically_stable"]:
            assert (
                row["D_avg_A2_per_ps"] is not None
                and row["na_vdos_center_thz"] > 0
                and row["D_kinisi_A2_per_ps"] is not None
            )
        else:
            assert row["md_skipped_reason"].startswith("dynamically unstable: min frequency")
    # cubic Na3PS4 and Na3SbS4: a real soft mode at the zone boundary (H), not an acoustic artifact near Gamma
    for cid in ("demo-Na3PS4", "demo-Na3SbS4"):
        assert (
            rows[cid]["dynamically_stable"] is False and rows[cid]["stability_rule"] == "soft mode"
        )
        assert (
            "soft mode: -1." in rows[cid]["stability_reason"]
            and "q = [-0.5, -0.5, 0.5]" in rows[cid]["stability_reason"]
        )
    # the demo ends with the report: figures of the stable structures, the statistics it cannot compute on five
    report = tmp_path / "work" / "report" / "index.html"
    assert f"Report: {report}" in demo.stdout and "not computed: correlations" in demo.stdout
    counts = body_counts(rendered_dom(report))
    assert counts["loaded"] == counts["expected"] >= 2 + 2 * len(stable) and counts["broken"] == 0
    # running the demo again adds nothing: everything is already submitted and finished
    again = subprocess.run(
        [NA_FLOWS, "demo", *demo_args], capture_output=True, text=True, cwd=tmp_path, timeout=1200
    )
    assert "0 flows submitted, 5 structures not submitted" in again.stdout
    assert "Launched 0 jobs" in again.stdout


def test_the_demo_ends_with_the_results_and_the_report_whatever_options_they_have(
    embedded_settings, monkeypatch, capsys
):
    """The demo hands its store to `results` and `report` with their own parsers' defaults: an option added to
    either (results --disputed was one) cannot break the demo's last step. Submission and the run are stubbed."""
    from na_lattice_flows.cli import campaign
    from na_lattice_flows.execution.stores import open_session

    with open_session(embedded_settings):
        pass  # the store the stubbed submission would have created
    monkeypatch.setattr(campaign, "_screen_and_submit", lambda args, loaded, inputs: 0)
    monkeypatch.setattr(campaign, "cmd_run", lambda args: 0)
    assert main(["demo", "--workdir", str(embedded_settings.workdir)]) == 0
    out = capsys.readouterr().out
    assert f"Report: {embedded_settings.workdir / 'report' / 'index.html'}" in out


def _bug(args):
    raise KeyError("a bug, not a mistake")


@pytest.mark.parametrize("verbose", [False, True])
def test_a_bug_exits_1_with_the_end_of_its_traceback_and_a_mistake_exits_2(
    monkeypatch, capsys, tmp_path, verbose
):
    from na_lattice_flows.cli import app
    from na_lattice_flows.errors import InputError

    parser, handlers = app.build_parser()
    monkeypatch.setattr(app, "build_parser", lambda: (parser, {**handlers, "status": _bug}))
    assert app.main([*(["-v"] if verbose else []), "status", "--workdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        "unexpected error (a bug" in err
        and "KeyError: 'a bug, not a mistake'" in err
        and "in _bug" in err
    )
    assert ("all of them with -v" in err) is not verbose
    assert ("Traceback (most recent call last)" in err) is verbose  # without -v only its last lines

    def mistake(args):
        raise InputError("--top -1: must be at least 1")

    monkeypatch.setattr(app, "build_parser", lambda: (parser, {**handlers, "status": mistake}))
    assert app.main(["status", "--workdir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "na-flows status: error: --top -1: must be at least 1"


def test_help_imports_none_of_the_heavy_libraries():
    """`na-flows --help` (and parsing any command line) loads no pandas, pymatgen, maggma, FireWorks or torch:
    they are imported by the commands that use them (0.4 s for --help instead of ~9 s)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom na_lattice_flows.cli.app import build_parser\nbuild_parser()[0].format_help()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pymatgen', 'maggma', 'fireworks', 'torch', 'jobflow', 'ase'}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_every_option_of_every_command_says_what_it_does():
    """`--help` of each command and action documents all its options (issue 33: --group-by, --seed had none)."""
    import argparse

    from na_lattice_flows.cli.app import build_parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])
            elif (
                not isinstance(action, argparse._HelpAction)
                and action.option_strings
                and not (action.help or "").strip()
            ):
                missing.append(f"{' '.join(path)} {action.option_strings[0]}")

    walk(build_parser()[0], ["na-flows"])
    assert missing == []
