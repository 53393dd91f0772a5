"""Bad input, bad options and failures, as a new user and a hostile tester meet them: options do what their help
says, invalid values are refused at submission naming the option, exit codes tell what happened, errors are one
line, and no result is hidden (README, "Faults")."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from na_lattice_flows.cli import main
from na_lattice_flows.cli.common import (
    EXIT_JOBS_FAILED,
    EXIT_NOTHING_SUBMITTED,
    EXIT_STORE,
    EXIT_USAGE,
)
from na_lattice_flows.execution.results import results_table
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session

NA_FLOWS = shutil.which("na-flows", path=str(Path(sys.executable).parent))
FAST = [
    "--model",
    "chgnet",
    "--no-md",
    "--phonon-supercells",
    "2",
    "--min-supercell-atoms",
    "16",
]  # the path, not the model


def rock_salt(a: float = 5.64, anion: str = "Cl") -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def antifluorite() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.54), ["S", "Na"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )


@pytest.fixture
def store(tmp_path, monkeypatch) -> list[str]:
    monkeypatch.delenv("NA_FLOWS_MONGODB_URI", raising=False)
    monkeypatch.setenv("NA_FLOWS_CONFIG", str(tmp_path / "absent.yaml"))
    return ["--workdir", str(tmp_path / "work")]


def job_names(workdir: list[str]) -> list[str]:
    with open_session(resolve_settings(workdir[1])) as session:
        return sorted(fw["name"] for fw in session.launchpad.fireworks.find({}, {"name": 1}))


def write(structure: Structure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    structure.to(filename=str(path))
    return path


# 1. --no-phonons ---------------------------------------------------------------------------------------------


def test_no_phonons_runs_no_md_unless_md_is_asked_for(tmp_path, store, capsys):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    assert main(["submit", str(cif), "--no-phonons", *store]) == 0
    names = job_names(store)
    assert not [name for name in names if "md" in name], names  # relaxation and summary only
    assert len(names) == 2
    # other settings
    assert main(["submit", str(cif), "--no-phonons", "--md", "--md-preset", "short", *store]) == 0
    assert [name for name in job_names(store) if name.startswith("md gate")]
    with pytest.raises(SystemExit):
        main(["submit", str(cif), "--md", "--no-md", *store])


# 2. no completed result hidden ----------------------------------------------------------------------------------


def test_same_file_name_in_two_folders_gives_two_structures(tmp_path, store, capsys):
    a = write(rock_salt(), tmp_path / "A" / "cand.cif")
    b = write(antifluorite(), tmp_path / "B" / "cand.cif")
    assert main(["submit", str(a.parent), str(b.parent), *FAST, *store]) == 0  # one call
    assert "2 flows submitted" in capsys.readouterr().out
    other = ["--workdir", str(tmp_path / "other")]
    assert main(["submit", str(a), *FAST, *other]) == 0  # two calls
    assert main(["submit", str(b), *FAST, *other]) == 0
    for workdir in (store, other):
        with open_session(resolve_settings(workdir[1])) as session:
            table = results_table(session)
        assert sorted(table["formula"]) == ["Na2S", "NaCl"], table[
            ["candidate_id", "formula", "source"]
        ]
        assert table["workflow_id"].is_unique


def test_a_resubmission_with_other_settings_shows_both_results(tmp_path, store, capsys):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    assert main(["submit", str(cif), *FAST, *store]) == 0
    first = capsys.readouterr().out.split("Campaign ")[1].split(":")[0]
    assert main(["submit", str(cif), *FAST, "--temperature", "400", *store]) == 0
    second = capsys.readouterr().out.split("Campaign ")[1].split(":")[0]
    assert main(["run", *store]) == 0
    capsys.readouterr()
    assert main(["results", "--format", "json", *store]) == 0
    rows = {row["campaign_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {first, second}
    assert rows[first]["state"] == rows[second]["state"] == "COMPLETED"
    assert (rows[first]["phonon_temperature_K"], rows[second]["phonon_temperature_K"]) == (
        800.0,
        400.0,
    )
    assert rows[first]["settings_fingerprint"] != rows[second]["settings_fingerprint"]
    # the harmonic Na MSD grows with T (classically in proportion): each row holds its own workflow's result
    assert 1.6 < rows[first]["msd_na_avg_A2"] / rows[second]["msd_na_avg_A2"] < 2.05
    for campaign in (first, second):
        assert main(["results", "--campaign", campaign, "--format", "json", *store]) == 0
        assert [row["campaign_id"] for row in json.loads(capsys.readouterr().out)] == [campaign]
    assert (
        main(
            [
                "results",
                "--settings",
                rows[second]["settings_fingerprint"][:8],
                "--format",
                "json",
                *store,
            ]
        )
        == 0
    )
    assert [row["campaign_id"] for row in json.loads(capsys.readouterr().out)] == [second]


# 3. invalid options are refused at submission ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--temperature", "-300", "> 0"),
        ("--temperature", "nan", "finite"),
        ("--md-temperatures", "800,-5", "> 0"),
        ("--md-temperatures", "inf", "finite"),
        ("--fmax", "-1", "> 0"),
        ("--phonon-supercells", "0", ">= 1"),
        ("--min-supercell-atoms", "0", ">= 1"),
        ("--max-sites", "0", ">= 1"),
        ("--md-production-steps", "-10", ">= 1"),
        ("--md-equilibration-steps", "-1", ">= 0"),
        ("--model", "fairchem:/missing/uma.pt", "no such checkpoint"),
        ("--phonon-batch", "0", ">= 1"),
    ],
)
def test_invalid_options_are_refused_naming_option_value_and_range(
    tmp_path, store, capsys, option, value, says
):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    with pytest.raises(SystemExit) as exit_info:
        main(["submit", str(cif), *store, f"{option}={value}"])
    assert exit_info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert option in err and value.split(",")[-1] in err and says in err, err
    assert not (tmp_path / "work" / "launchpad.json").exists()  # nothing was stored


def test_phonon_batch_needs_a_torchsim_model_and_groups_the_phonon_step(tmp_path, store, capsys):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    fluoride = write(rock_salt(4.6, "F"), tmp_path / "in" / "NaF.cif")
    # no torch-sim wrapper
    assert (
        main(["submit", str(cif), *store, "--phonon-batch", "2", "--model", "chgnet"]) == EXIT_USAGE
    )
    assert "torch-sim" in capsys.readouterr().err and job_names(store) == []
    assert (
        main(
            [
                "submit",
                str(cif),
                str(fluoride),
                *store,
                "--phonon-batch",
                "2",
                "--model",
                "7net-0",
                "--no-md",
            ]
        )
        == 0
    )
    assert "2 structures submitted in 1 workflows" in capsys.readouterr().out
    names = job_names(store)
    assert [name for name in names if name.startswith("batched mlp phonons")] == [
        "batched mlp phonons (2 structures)"
    ]
    assert sorted(name for name in names if name.startswith("phonons of")) == [
        "phonons of NaCl",
        "phonons of NaF",
    ]
    assert main(["status", *store]) == 0
    assert "2 structures (1 workflows, 1 of them batches of 2)" in capsys.readouterr().out


def test_makers_refuse_invalid_fields_from_python():
    from na_lattice_flows.md.jobs import MLPMDMaker
    from na_lattice_flows.md.settings import md_settings
    from na_lattice_flows.phonons.jobs import MLPPhononMaker
    from na_lattice_flows.relax.jobs import MLPRelaxMaker

    with pytest.raises(ValueError, match=r"n_supercells.*0.*>= 1"):
        MLPPhononMaker(n_supercells=0)
    with pytest.raises(ValueError, match=r"temperature_K.*-300.*> 0"):
        MLPPhononMaker(temperature_K=-300)
    with pytest.raises(ValueError, match=r"temperatures_K.*-5"):
        MLPMDMaker(temperatures_K=[800.0, -5.0])
    with pytest.raises(ValueError, match=r"fmax.*-1"):
        MLPRelaxMaker(relax_kwargs={"fmax": -1})
    with pytest.raises(ValueError, match="timestep_fs"):
        md_settings("short", timestep_fs=0)


# 4. exit codes ----------------------------------------------------------------------------------------------------


def test_exit_codes_say_what_happened(tmp_path, store, capsys):
    no_na = write(rock_salt(6.29, "Cl").replace_species({"Na": "K"}), tmp_path / "in" / "KCl.cif")
    assert main(["submit", str(no_na), *store]) == EXIT_NOTHING_SUBMITTED
    cif = write(rock_salt(), tmp_path / "in2" / "NaCl.cif")
    # mace is not installed here
    assert main(["submit", str(cif), *FAST, "--model", "mace-mp-0", *store]) == 0
    assert main(["run", *store]) == EXIT_JOBS_FAILED
    assert "failed" in capsys.readouterr().out
    help_text = subprocess.run(
        [NA_FLOWS, "--help"], capture_output=True, text=True, check=True
    ).stdout
    for code in (EXIT_USAGE, EXIT_NOTHING_SUBMITTED, EXIT_JOBS_FAILED, EXIT_STORE):
        assert f"{code} " in help_text.split("exit status")[1]


# 5. messages, not tracebacks --------------------------------------------------------------------------------------


def test_an_unreachable_mongodb_is_one_line_after_a_short_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("NA_FLOWS_MONGODB_TIMEOUT_S", "1")
    start = time.monotonic()
    run = subprocess.run(
        [NA_FLOWS, "status", "--mongodb-uri", "mongodb://user:secret@127.0.0.1:9/screening"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert time.monotonic() - start < 30
    assert run.returncode == EXIT_STORE
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "Traceback" not in run.stderr, (
        run.stderr
    )
    assert "secret" not in run.stderr


def test_a_damaged_launchpad_file_is_named(tmp_path, store, capsys):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    assert main(["submit", str(cif), *FAST, *store]) == 0
    launchpad = tmp_path / "work" / "launchpad.sqlite"
    intact = launchpad.read_bytes()
    launchpad.write_bytes(b"not an SQLite file" + intact[18:])  # a damaged header
    capsys.readouterr()
    for command in (["status"], ["submit", str(cif), *FAST]):  # a reader and a writer
        assert main([*command, *store]) == EXIT_STORE
        err = capsys.readouterr().err
        assert (
            str(launchpad) in err
            and "cannot be read" in err
            and "--workdir" in err
            and "Traceback" not in err
        ), err
    launchpad.write_bytes(intact)  # restored from a backup
    assert main(["status", *store]) == 0


def without_write_override() -> list[str]:
    """A command prefix under which permission bits bind: as root, drop the capability to override them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip(
            "running as root without util-linux's setpriv: a read-only folder cannot be made to bind"
        )
    return [
        setpriv,
        "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search",
    ]


def test_read_only_commands_work_on_a_read_only_store(tmp_path, store):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    workdir = tmp_path / "work"
    assert main(["submit", str(cif), *FAST, *store]) == 0
    prefix = without_write_override()
    paths = [workdir, *workdir.rglob("*")]
    try:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        env = {**os.environ, "NA_FLOWS_CONFIG": str(tmp_path / "absent.yaml")}
        env.pop("NA_FLOWS_MONGODB_URI", None)

        def na_flows(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*prefix, NA_FLOWS, *args, "--workdir", str(workdir)],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=300,
            )

        status = na_flows("status")
        assert status.returncode == 0, status.stderr
        assert "1 structures (workflows)" in status.stdout
        results = na_flows("results", "--format", "csv")
        assert results.returncode == 0 and "NaCl" in results.stdout, results.stderr
        submit = na_flows("submit", str(cif), "--force")
        assert submit.returncode == EXIT_STORE and "Traceback" not in submit.stderr, submit.stderr
        assert "not writable" in submit.stderr and str(workdir) in submit.stderr, submit.stderr
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


# 6. folders -----------------------------------------------------------------------------------------------------


def test_every_supported_file_in_a_folder_is_read_and_each_bad_one_named(tmp_path, store, capsys):
    folder = tmp_path / "mixed"
    write(rock_salt(), folder / "NaCl.cif")
    table = folder / "more.csv"
    table.write_text(
        'material_id,poscar,band_gap,formation_energy_per_atom\nmp-na2s,"'
        + antifluorite().to(fmt="poscar")
        + '",2.4,-1.2\n'
    )
    (folder / "broken.json").write_text("[{not json")
    (folder / "notes.txt").write_text("measured on Tuesday\n")
    assert main(["submit", str(folder), *FAST, *store]) == 0
    out = capsys.readouterr().out
    assert "2 flows submitted" in out  # the CIF and the CSV's row
    assert "broken" in out and "not valid JSON" in out
    assert "notes.txt" in out and "skipped" in out


# 7. smaller ------------------------------------------------------------------------------------------------------


def test_a_cif_with_a_syntax_error_says_so_with_the_parsers_words(tmp_path, store, capsys):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    broken = tmp_path / "in" / "broken.cif"
    lines = cif.read_text().splitlines()
    # a loop row cut short
    broken.write_text("\n".join(lines[:-1] + [lines[-1].rsplit(maxsplit=2)[0]]) + "\n")
    assert main(["submit", str(broken), *store]) == EXIT_NOTHING_SUBMITTED
    out = capsys.readouterr().out
    assert "could not parse the CIF" in out and "incomplete row" in out, out


def test_structures_without_a_band_gap_are_counted_and_metals_can_be_refused(
    tmp_path, store, capsys
):
    folder = tmp_path / "files"
    write(rock_salt(), folder / "NaCl.cif")
    # bcc sodium
    write(
        Structure(Lattice.cubic(4.23), ["Na", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        folder / "Na.cif",
    )
    # an intermetallic
    write(
        Structure(Lattice.cubic(4.5), ["Na", "Sn"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        folder / "NaSn.cif",
    )
    assert main(["submit", str(folder), *FAST, *store]) == 0
    out = capsys.readouterr().out
    assert "3 flows submitted" in out and "3 structures have no band gap" in out
    other = ["--workdir", str(tmp_path / "other")]
    assert main(["submit", str(folder), *FAST, "--unknown-gap", "charge-balance", *other]) == 0
    out = capsys.readouterr().out
    assert "1 flows submitted" in out
    assert (
        "Na (" in out and "NaSn (" in out and out.count("no charge-balanced oxidation states") == 2
    )


@pytest.mark.parametrize("hours", ["-1", "0", "nan"])
def test_recover_refuses_an_expiration_that_would_call_live_runs_lost(tmp_path, hours, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["recover", "--expiration-hours", hours, "--workdir", str(tmp_path)])
    assert refused.value.code == EXIT_USAGE
    assert (
        f"argument --expiration-hours: {hours}: must be a finite number > 0 h"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "command", [["status"], ["results"], ["recover"], ["report", "--out", "report-folder"]]
)
def test_reading_commands_refuse_a_missing_store_and_every_command_a_workdir_that_is_a_file(
    tmp_path, command, capsys
):
    missing = tmp_path / "mistyped"
    assert main([*command, "--workdir", str(missing)]) == EXIT_USAGE
    assert f"--workdir {missing}: no store there" in capsys.readouterr().err
    assert not missing.exists()  # nothing created
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a store")
    assert main([*command, "--workdir", str(a_file)]) == EXIT_USAGE
    assert f"--workdir {a_file}: a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (
            ["report", "--out", "r", "--dispersions", "-5"],
            "argument --dispersions: -5: must be an integer >= 0",
        ),
        (["report", "--out", "r", "--top", "-1"], "argument --top: -1: must be an integer >= 1"),
        (
            ["results", "--min-d", "nan"],
            "argument --min-d: nan: must be a finite number >= 0 A^2/ps",
        ),
        (
            ["results", "--rejected", "--failed"],
            "argument --failed: not allowed with argument --rejected",
        ),
    ],
)
def test_report_and_results_options_are_checked_as_they_are_parsed(command, says, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main([*command, "--workdir", str(tmp_path)])
    assert refused.value.code == EXIT_USAGE and says in capsys.readouterr().err


def test_parquet_output_says_the_file_it_wrote(tmp_path, store, capsys):
    cif = write(rock_salt(), tmp_path / "in" / "NaCl.cif")
    assert main(["submit", str(cif), *FAST, *store]) == 0
    capsys.readouterr()
    out = tmp_path / "out.csv"
    assert main(["results", "--format", "parquet", "--output", str(out), *store]) == 0
    assert f"to {tmp_path / 'out.parquet'}" in capsys.readouterr().out
    assert (tmp_path / "out.parquet").is_file() and not out.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["results", "--output"],
        ["predict", "--model", "m.joblib", "--output"],
        ["report", "--out"],
        ["doping", "cell", "host.cif", "--out"],
        ["benchmark-forces", "ref.tar.lzma", "--output"],
        ["benchmark-frames", "run.h5", "--output"],
    ],
)
def test_outputs_that_cannot_be_written_are_refused_as_parsed_before_any_work(
    command, tmp_path, capsys
):
    """A folder where a file goes (a file where a folder goes) and a place nothing can be created in (/proc:
    refused for root too, unlike a chmod) are usage errors named before anything is read or computed."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    wrong_kind = (
        (a_file, "a file, not a folder") if command[0] == "report" else (tmp_path, "a folder")
    )
    for target, says in (wrong_kind, ("/proc/na_flows_out/x", "cannot write in /proc")):
        with pytest.raises(SystemExit) as refused:
            main([*command, str(target), "--workdir", str(tmp_path)])
        assert refused.value.code == EXIT_USAGE
        assert f"{target}: {says}" in capsys.readouterr().err
    # a file in a folder that does not exist yet passes, and the check leaves no trace
    from na_lattice_flows.cli.options import output_file

    assert output_file(str(tmp_path / "new" / "x.csv")) == tmp_path / "new" / "x.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_failed_jobs_of_studies_are_named_by_their_workflow_not_none(tmp_path, store, capsys):
    """A doped study's, a training set's or a benchmark's failed job has no candidate: status and results
    --failed name its workflow (the study id, the dataset name) instead of printing None."""
    from worker_jobs import refuse

    from na_lattice_flows.execution.launching import run_ready_jobs
    from na_lattice_flows.execution.submission import add_flow

    settings = resolve_settings(workdir=store[1])
    with open_session(settings) as session:
        failing = refuse("the NPT run diverged")
        failing.name = "doped npt pristine 300K"
        add_flow(session, failing, "doping Na3SbS4-0123456789", {"study_id": "Na3SbS4-0123456789"})
        run_ready_jobs(session, progress=False)
    capsys.readouterr()
    assert main(["status", *store]) == 0
    status = capsys.readouterr().out
    assert (
        "- Na3SbS4-0123456789" not in status
    )  # the study id alone would be ambiguous with a structure
    assert (
        "- doping Na3SbS4-0123456789 'doped npt pristine 300K'" in status and "None" not in status
    )
    assert main(["results", "--failed", "--format", "csv", *store]) == 0
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["candidate_id"] == "" and row["workflow"] == "doping Na3SbS4-0123456789"
    assert "RuntimeError: the NPT run diverged" in row["error"]
