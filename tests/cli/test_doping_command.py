"""`na-flows doping`: `cell` writes the doped supercell in the format its file name says and prints the counts,
with the flow's own code (same seed, same cell); bad input exits 2 naming what is wrong; `submit` adds the
study's flow with its routed jobs, and a repeat is refused (exit 3) unless --force; `results` reads the tables."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Structure

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.cli import main
from na_lattice_flows.cli.common import EXIT_NOTHING_SUBMITTED, EXIT_USAGE
from na_lattice_flows.doping.cells import doped_supercell
from na_lattice_flows.execution.stores import open_session


@pytest.fixture
def host(tmp_path):
    path = tmp_path / "Na3SbS4.cif"
    next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure().to(filename=str(path))
    return path


@pytest.mark.parametrize("name", ["doped.cif", "POSCAR", "doped.vasp"])
def test_cell_writes_the_flows_cell_and_its_counts(host, tmp_path, capsys, name):
    out = tmp_path / "cells" / name  # a folder that does not exist yet: made
    assert (
        main(
            [
                "doping",
                "cell",
                str(host),
                "--dopant",
                "W:Sb",
                "--fraction",
                "0.125",
                "--supercell",
                "2x2x2",
                "--seed",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert {
        k: report[k]
        for k in (
            "achieved_fraction",
            "n_dopant",
            "n_vacancies",
            "n_host_sites",
            "net_charge_e",
            "n_atoms",
        )
    } == {
        "achieved_fraction": 0.125,
        "n_dopant": 2,
        "n_vacancies": 2,
        "n_host_sites": 16,
        "net_charge_e": 0.0,
        "n_atoms": 126,
    }
    written = Structure.from_file(out)
    expected = doped_supercell(
        Structure.from_file(host), "W", "Sb", 0.125, (2, 2, 2), seed=3
    ).structure
    assert written.composition == expected.composition
    assert written.matches(expected, scale=False)


def test_cell_controls(host, tmp_path, capsys):
    assert (
        main(
            [
                "doping",
                "cell",
                str(host),
                "--dopant",
                "W:Sb",
                "--fraction",
                "0.125",
                "--supercell",
                "2x2x2",
                "--no-vacancies",
                "--out",
                str(tmp_path / "a.cif"),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["formula"] == "Na48Sb14W2S64"
    assert (
        main(
            [
                "doping",
                "cell",
                str(host),
                "--dopant",
                "W:Sb",
                "--fraction",
                "0.125",
                "--supercell",
                "2x2x2",
                "--vacancies-only",
                "--out",
                str(tmp_path / "b.cif"),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["formula"] == "Na46Sb16S64"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dopant", "W-Sb", "--fraction", "0.1", "--supercell", "2x2x2"], "DOPANT:HOST"),
        (
            ["--dopant", "W:P", "--fraction", "0.1", "--supercell", "2x2x2"],
            "host site P: not in Na3SbS4",
        ),
        (
            ["--dopant", "W:Sb", "--fraction", "0.01", "--supercell", "2x2x2"],
            "smallest non-zero fraction is 1/16",
        ),
        (["--dopant", "W:Sb", "--fraction", "1.5", "--supercell", "2x2x2"], "must lie in"),
        (["--dopant", "W:Sb", "--fraction", "0.1", "--supercell", "2x2"], "NxMxK"),
        (
            ["--dopant", "W:Sb", "--fraction", "0.1", "--supercell", "100x100x100"],
            "supercell 100x100x100: 16,000,000 atoms of Na3SbS4, more than the 200,000",
        ),
        (
            ["--dopant", "W:Sb", "--fraction", "0.25", "--supercell", "2x2x2", "--seed", "-1"],
            "seed -1: must be >= 0",
        ),
    ],
)
def test_cell_bad_input_exits_2_naming_it(host, tmp_path, capsys, options, message):
    assert (
        main(["doping", "cell", str(host), *options, "--out", str(tmp_path / "x.cif")])
        == EXIT_USAGE
    )
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.cif").exists()


def test_cell_refuses_a_missing_file_and_an_unknown_format(host, tmp_path, capsys):
    assert (
        main(
            [
                "doping",
                "cell",
                str(tmp_path / "none.cif"),
                "--dopant",
                "W:Sb",
                "--fraction",
                "0.1",
                "--supercell",
                "2x2x2",
                "--out",
                str(tmp_path / "x.cif"),
            ]
        )
        == EXIT_USAGE
    )
    assert "no such structure file" in capsys.readouterr().err
    assert (
        main(
            [
                "doping",
                "cell",
                str(host),
                "--dopant",
                "W:Sb",
                "--fraction",
                "0.125",
                "--supercell",
                "2x2x2",
                "--out",
                str(tmp_path / "x.xyz"),
            ]
        )
        == EXIT_USAGE
    )
    assert "--out" in capsys.readouterr().err


def test_submit_adds_the_routed_study_once(host, embedded_settings, capsys):
    store = ["--workdir", str(embedded_settings.workdir)]
    command = [
        "doping",
        "submit",
        str(host),
        "--fractions",
        "0,0.125",
        "--preset",
        "short",
        "--model",
        "chgnet",
        *store,
    ]
    assert main(command) == 0
    assert "systems: pristine, W0.125+vac, W0.125, vac0.125" in capsys.readouterr().out
    with open_session(embedded_settings, read_only=True) as session:
        [workflow] = list(session.launchpad.workflows.find({"metadata.study": "doping"}))
        fireworks = list(
            session.launchpad.fireworks.find(
                {"fw_id": {"$in": workflow["nodes"]}}, {"name": 1, "spec._category": 1}
            )
        )
    categories = {fw["name"]: fw["spec"].get("_category") for fw in fireworks}
    assert categories["npt pristine 300K"] == "gpu" and categories["transition pristine"] == "gpu"
    assert (
        categories["transport W0.125+vac 600K"] == "gpu"
        and categories["doped cell pristine"] is None
    )
    # per system: cell, 3 NPT, transition, 2 transport, summary; the study
    assert len(fireworks) == 4 * (1 + 3 + 1 + 2 + 1) + 1
    assert main(command) == EXIT_NOTHING_SUBMITTED
    assert "already submitted" in capsys.readouterr().out
    assert main([*command, "--force"]) == 0
    # fractions the cell cannot hold are refused at submission, naming the smallest possible
    assert (
        main(["doping", "submit", str(host), "--fractions", "0,0.025", "--preset", "short", *store])
        == EXIT_USAGE
    )
    assert "smallest non-zero fraction is 1/16" in capsys.readouterr().err


def test_results_of_an_empty_store_is_an_empty_table(embedded_settings, capsys):
    with open_session(embedded_settings):
        pass
    assert (
        main(["doping", "results", "--workdir", str(embedded_settings.workdir), "--format", "json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    ("structure", "options", "message"),
    [
        (
            "KCl",
            ["--dopant", "Ca:K"],
            r"8 Na vacancies needed \(8 Ca on K\) but the 2x2x2 cell of KCl has 0 Na",
        ),
        ("Na3SbS4", ["--dopant", "Li:Sb"], "cannot assign an oxidation state|lowers the charge"),
        ("Na3SbS4", ["--dopant", "W:P"], "host site P: not in Na3SbS4"),
        ("Na3SbS4", ["--seed", "-1"], "seed"),
        (
            "Na3SbS4",
            ["--temperatures", "inf"],
            r"temperatures must be a non-empty list of finite K in \(0, 3000\]",
        ),
        (
            "Na3SbS4",
            ["--transport-temperatures", "1e30"],
            r"^.*--transport-temperatures: .*finite K in \(0, 3000\]",
        ),
        # the study's settings model refuses these: named by the option, not the pydantic field
        (
            "Na3SbS4",
            ["--fine-step", "0"],
            r"error: --fine-step: Input should be greater than 0 \(got 0\.0\)",
        ),
        ("Na3SbS4", ["--temperatures", "300,-5"], r"error: --temperatures: temperatures must be"),
    ],
)
def test_submit_refuses_what_cell_refuses_before_storing_anything(
    host, embedded_settings, capsys, tmp_path, structure, options, message
):
    import re

    from pymatgen.core import Lattice

    path = host
    if structure == "KCl":
        path = tmp_path / "KCl.cif"
        Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(6.29), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
        ).to(filename=str(path))
    store = ["--workdir", str(embedded_settings.workdir)]
    command = [
        "doping",
        "submit",
        str(path),
        "--preset",
        "short",
        "--fractions",
        "0,0.25",
        *options,
    ]
    assert main([*command, *store]) == EXIT_USAGE
    assert re.search(message, capsys.readouterr().err)
    with open_session(embedded_settings) as session:
        assert session.launchpad.workflows.count_documents({}) == 0


def test_submit_says_when_it_takes_the_paper_preset(host, embedded_settings, capsys):
    store = ["--workdir", str(embedded_settings.workdir)]
    # refused after saying
    assert main(["doping", "submit", str(host), "--dopant", "W:P", *store]) == EXIT_USAGE
    assert "preset paper (the study's 12x12x12 cells, 27,648 atoms" in capsys.readouterr().err


def test_cell_names_a_folder_given_as_the_structure(tmp_path, capsys):
    options = [
        "--dopant",
        "W:Sb",
        "--fraction",
        "0.25",
        "--supercell",
        "2x2x2",
        "--out",
        str(tmp_path / "x.cif"),
    ]
    assert main(["doping", "cell", str(tmp_path), *options]) == EXIT_USAGE
    assert f"{tmp_path}: a folder, not a structure file" in capsys.readouterr().err
