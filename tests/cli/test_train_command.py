"""`na-flows train`: submission (routing, idempotence, bad input named) and, slow, the whole route with GPAW
labels through FireWorks on the embedded store: MLP MD of three tiny rock-salt cells, frame selection, GPAW single
points, a split by configuration, a small Allegro fit, and `train results`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from na_lattice_flows.cli import main
from na_lattice_flows.cli.common import EXIT_NOTHING_SUBMITTED, EXIT_USAGE
from na_lattice_flows.execution.stores import open_session


@pytest.fixture
def rock_salts(tmp_path):
    """NaCl primitive cells (2 atoms) at three lattice constants: three configurations."""
    paths = []
    for a in (5.55, 5.64, 5.75):
        structure = Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
        ).get_primitive_structure()
        path = tmp_path / f"nacl_{a:.2f}.cif"
        structure.to(filename=str(path))
        paths.append(str(path))
    return paths


def test_dataset_submission_is_routed_and_refused_twice(rock_salts, embedded_settings, capsys):
    store = ["--workdir", str(embedded_settings.workdir)]
    command = [
        "train",
        "dataset",
        *rock_salts,
        "--name",
        "nacl",
        "--model",
        "chgnet",
        "--frames",
        "6",
        "--label-jobs",
        "2",
        "--fit",
        "allegro",
        "--epochs",
        "3",
        "--baseline-models",
        "chgnet",
        *store,
    ]
    assert main(command) == 0
    assert "3 configurations x 2 temperatures" in capsys.readouterr().out
    with open_session(embedded_settings, read_only=True) as session:
        [workflow] = list(session.launchpad.workflows.find({"metadata.kind": "training set"}))
        fireworks = list(
            session.launchpad.fireworks.find(
                {"fw_id": {"$in": workflow["nodes"]}}, {"name": 1, "spec._category": 1}
            )
        )
    categories = {fw["name"]: fw["spec"].get("_category") for fw in fireworks}
    assert (
        categories["training md nacl_5.55 700 K"] == "gpu"
        and categories["training labels gpaw 1/2"] == "cpu"
    )
    assert categories["force field fit allegro"] == "gpu" and categories["training dataset"] is None
    assert len(fireworks) == 3 * 2 + 1 + 2 + 1 + 1  # MD runs, selection, labels, dataset, fit
    assert main(command) == EXIT_NOTHING_SUBMITTED
    assert "already submitted" in capsys.readouterr().out


def test_vasp_labels_are_one_job_that_makes_the_statics_at_run_time(
    rock_salts, embedded_settings, capsys
):
    command = [
        "train",
        "dataset",
        *rock_salts,
        "--name",
        "nacl vasp",
        "--labeller",
        "vasp",
        "--vasp-functional",
        "r2SCAN",
        "--frames",
        "6",
        "--workdir",
        str(embedded_settings.workdir),
    ]
    assert main(command) == 0
    with open_session(embedded_settings, read_only=True) as session:
        [firework] = list(
            session.launchpad.fireworks.find({"name": "training labels vasp"}, {"spec": 1})
        )
    task = firework["spec"]["_tasks"][0]["job"]
    # its statics: cpu, at run time
    assert task["function_args"][1] == "r2SCAN" and firework["spec"].get("_category") is None
    with pytest.raises(SystemExit) as refused:
        main(
            [*command[:-2], "--vasp-functional", "LDA", "--workdir", str(embedded_settings.workdir)]
        )
    assert refused.value.code == EXIT_USAGE and "invalid choice: 'LDA'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fractions", "0.5,0.5"], "three shares"),
        (["--temperatures", "hot"], "comma-separated numbers"),
        (["--model", "nonsense"], "unknown model"),
        (["--baseline-models", "nonsense", "--fit", "allegro"], "unknown model"),
        (["--epochs", "0", "--fit", "sevennet"], "at least 1"),
        (["--fractions", "0.5,0.5,0.5"], "each > 0, summing to 1"),
        (["--fractions", "1,0,0"], "each > 0, summing to 1"),
        (["--fractions=-1,1,1"], "each > 0, summing to 1"),
        (["--dft-ecut", "-5"], "argument --dft-ecut: -5: must be a finite number > 0 eV"),
        (
            ["--dft-kpoint-density", "nan"],
            "argument --dft-kpoint-density: nan: must be a finite number",
        ),
        (["--name", ""], "--name '': use letters, digits"),
        (["--name", "../../escape"], "--name '../../escape': use letters, digits"),
        (["--fit", "uma", "--uma-checkpoint", "CIF"], "not a fairchem checkpoint (a .pt file)"),
    ],
)
def test_bad_dataset_options_are_named(rock_salts, embedded_settings, capsys, options, message):
    options = [rock_salts[0] if option == "CIF" else option for option in options]
    name = [] if "--name" in options else ["--name", "x"]
    command = ["train", "dataset", *rock_salts, *name, *options]
    try:
        code = main([*command, "--workdir", str(embedded_settings.workdir)])
    except SystemExit as refused:  # argparse's own refusals
        code = refused.code
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (embedded_settings.workdir / "datasets").exists()


def test_one_configuration_is_refused_before_any_md(rock_salts, embedded_settings, capsys):
    workdir = ["--workdir", str(embedded_settings.workdir)]
    assert main(["train", "dataset", rock_salts[0], "--name", "one", *workdir]) == EXIT_USAGE
    assert "1 configuration(s) give 1 configuration group(s)" in capsys.readouterr().err


def test_fit_refuses_a_folder_whose_splits_share_a_configuration(
    tmp_path, embedded_settings, capsys
):
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.io import write

    from na_lattice_flows.training.dataset import label_frames

    atoms = bulk("Cu", "fcc", a=3.6).repeat(2)
    atoms.info["configuration"] = "same"
    frames = label_frames([atoms, atoms], EMT(), "emt", progress=False)
    for split in ("train", "val", "test"):
        write(tmp_path / f"{split}.extxyz", frames)
    assert (
        main(["train", "fit", str(tmp_path), "--workdir", str(embedded_settings.workdir)])
        == EXIT_USAGE
    )
    assert "more than one split" in capsys.readouterr().err
    assert (
        main(
            ["train", "fit", str(tmp_path / "absent"), "--workdir", str(embedded_settings.workdir)]
        )
        == EXIT_USAGE
    )

    for index, split in enumerate(("train", "val", "test")):
        separate = [frame.copy() for frame in frames]
        for frame, original in zip(separate, frames, strict=True):
            frame.calc = original.calc
            frame.info["configuration"] = f"config{index}"
        write(tmp_path / f"{split}.extxyz", separate)
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "fit",
                str(tmp_path),
                "--route",
                "sevennet",
                "--epochs",
                "2",
                "--workdir",
                str(embedded_settings.workdir),
            ]
        )
        == 0
    )
    assert f"sevennet fit '{tmp_path.name}-sevennet'" in capsys.readouterr().out
    with open_session(embedded_settings, read_only=True) as session:
        [firework] = list(session.launchpad.fireworks.find({}, {"name": 1, "spec._category": 1}))
    assert firework["name"] == "force field fit sevennet" and firework["spec"]["_category"] == "gpu"
    again = [
        "train",
        "fit",
        str(tmp_path),
        "--route",
        "sevennet",
        "--workdir",
        str(embedded_settings.workdir),
    ]
    assert main(again) == EXIT_USAGE  # the same name would write the same models/<name> folder
    assert (
        f"--name {tmp_path.name}-sevennet: a fit of that name is already in the store"
        in capsys.readouterr().err
    )


@pytest.mark.slow  # ~10 min on 2 cores: 9 GPAW single points, a small Allegro fit
def test_gpaw_labelled_training_end_to_end_through_fireworks(rock_salts, embedded_settings, capsys):
    pytest.importorskip("gpaw", reason="GPAW is not installed (scripts/setup_env.sh builds it)")
    from ase.io import read

    from na_lattice_flows.dft.gpaw import GPAWSettings, gpaw_calculator

    store = ["--workdir", str(embedded_settings.workdir)]
    assert (
        main(
            [
                "train",
                "dataset",
                *rock_salts,
                "--name",
                "nacl",
                "--model",
                "chgnet",
                "--temperatures",
                "300,900",
                "--md-steps",
                "40",
                "--equilibration",
                "10",
                "--frame-interval",
                "10",
                "--frames",
                "9",
                "--label-jobs",
                "2",
                "--dft-ecut",
                "300",
                "--dft-kpoint-density",
                "1.0",
                "--fractions",
                "0.6,0.2,0.2",
                "--fit",
                "allegro",
                "--epochs",
                "5",
                "--baseline-models",
                "chgnet",
                *store,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["run", *store]) == 0
    capsys.readouterr()  # the workers' log
    assert main(["train", "results", "--format", "json", *store]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["tested_model"].split(":")[0] for row in rows} == {"allegro", "chgnet"}
    trained = next(row for row in rows if row["tested_model"].startswith("allegro"))
    dataset = embedded_settings.workdir.resolve() / "datasets" / "nacl"
    test_frames = read(dataset / "test.extxyz", ":")
    assert trained["n_frames"] == len(test_frames) and all(
        a.info["labeller"] == "gpaw PBE 300 eV" for a in test_frames
    )
    frame = test_frames[0]
    check = frame.copy()
    check.calc = gpaw_calculator(GPAWSettings(ecut_eV=300, kpoint_density=1.0))
    # the labels are GPAW's
    np.testing.assert_allclose(check.get_forces(), frame.get_forces(), atol=1e-3)
    train_groups = {a.info["configuration"] for a in read(dataset / "train.extxyz", ":")}
    assert not train_groups & {a.info["configuration"] for a in test_frames}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--start", "7net-0"], "--start 7net-0 needs --frames harmonic"),
        (
            ["--start", "7net-0", "--frames", "harmonic", "--out", "x.pth"],
            "--out is for --start chgnet",
        ),
        (["--frames", "harmonic"], "no phonondb_train folder there"),
    ],
)
def test_bad_phonondb_training_options_are_named(tmp_path, capsys, options, message):
    code = main(
        [
            "train",
            "phonondb",
            "--shared",
            str(tmp_path),
            "--run-dir",
            str(tmp_path / "run"),
            *options,
        ]
    )
    assert code != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
