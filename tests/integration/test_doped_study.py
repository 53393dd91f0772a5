"""The doped study end to end on the production path: the short preset shrunk to 32-atom cells (pristine and
one W + vacancy cell, two temperatures) submitted to the embedded store, a worker killed with SIGKILL mid-NPT,
`na-flows run` again, which reruns the lost job and resumes the NPT from its checkpoint; then `doping results`
and the report's doped-study section."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.cli import main
from na_lattice_flows.doping.flow import DopedPhaseStudyMaker
from na_lattice_flows.execution.launching import fw_state_counts
from na_lattice_flows.execution.queries import doped_study_documents
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow

pytestmark = pytest.mark.slow  # about 4 minutes on 2 cores (CHGNet, 16 MD runs)

OVERRIDES = {
    "supercell": (1, 1, 2),
    "coarse_temperatures_K": [300, 700],
    "transport_temperatures_K": [300, 700],
    "fine_step_K": 200,
    "npt": {
        "n_equilibration_steps": 20,
        "n_production_steps": 120,
        "frame_interval_steps": 5,
        "checkpoint_interval_steps": 20,
    },
    "transport": {
        "n_equilibration_steps": 20,
        "n_production_steps": 100,
        "frame_interval_steps": 2,
        "checkpoint_interval_steps": 20,
    },
    "dihedral_window_ps": 0.05,
}


def kill_worker_mid_npt(workdir, trajectory_dir, min_step: int = 40) -> int:
    """Start `na-flows run` and SIGKILL it once some NPT checkpoint holds step >= ``min_step``."""
    code = f"from na_lattice_flows.cli import main; main(['run', '--workdir', {str(workdir)!r}])"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and process.poll() is None:
        for checkpoint in trajectory_dir.rglob("npt_*.checkpoint.npz"):
            try:
                step = int(np.load(checkpoint)["step"])
            except (OSError, ValueError, KeyError):
                continue
            if step >= min_step:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return int(np.load(checkpoint)["step"])
        time.sleep(0.1)
    raise AssertionError("the worker finished (or hung) before an NPT run could be killed")


def test_short_study_killed_mid_npt_resumes_and_reports(embedded_settings, tmp_path, capsys):
    structure = next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure()
    trajectory_dir = tmp_path / "trajectories"
    maker = DopedPhaseStudyMaker(
        model="chgnet",
        fractions=[0.0, 0.25],
        preset="short",
        overrides=OVERRIDES,
        controls=False,
        trajectory_dir=str(trajectory_dir),
        harmonic_structure=structure,
    )
    with open_session(embedded_settings) as session:
        add_flow(
            session,
            maker.make(structure),
            "doped study",
            {"study": "doping", "study_id": maker.study_id(structure)},
        )
    stopped_at = kill_worker_mid_npt(embedded_settings.workdir, trajectory_dir)
    assert 40 <= stopped_at < 140

    assert main(["run", "--workdir", str(embedded_settings.workdir)]) == 0
    with open_session(embedded_settings) as session:
        assert set(fw_state_counts(session)) == {"COMPLETED"}
    resumed = [
        path
        for path in trajectory_dir.rglob("npt_*.h5")
        if h5py.File(path).attrs["resumed_from_step"] > 0
    ]
    assert len(resumed) == 1 and h5py.File(resumed[0]).attrs["resumed_from_step"] == stopped_at
    assert not list(trajectory_dir.rglob("*.checkpoint.npz"))

    capsys.readouterr()
    # the screening's commands live beside the study
    assert main(["status", "--workdir", str(embedded_settings.workdir)]) == 0
    assert main(["results", "--workdir", str(embedded_settings.workdir), "--format", "json"]) == 0
    capsys.readouterr()
    assert (
        main(["doping", "results", "--workdir", str(embedded_settings.workdir), "--format", "json"])
        == 0
    )
    rows = {row["system"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"pristine", "W0.25+vac"}
    doped = rows["W0.25+vac"]
    assert (doped["n_dopant"], doped["n_vacancies"], doped["x_achieved"], doped["formula"]) == (
        1,
        1,
        0.25,
        "Na11Sb3W1S16",
    )
    assert (
        doped["D_star_A2_per_ps"] > 0
        and doped["D_sigma_A2_per_ps"] is not None
        and doped["haven_ratio"] is not None
    )
    assert (
        main(
            [
                "doping",
                "results",
                "--workdir",
                str(embedded_settings.workdir),
                "--table",
                "transport",
                "--format",
                "json",
            ]
        )
        == 0
    )
    transport = json.loads(capsys.readouterr().out)
    assert len(transport) == 4 and {row["temperature_K"] for row in transport} == {300, 700}

    # the harmonic check: cubic Na3SbS4 (relaxed in I-43m) keeps its zone-boundary soft mode (H), as in the study
    with open_session(embedded_settings) as session:
        [study] = doped_study_documents(session, load_systems=True)
    verdict = study["harmonic"]["stability"]
    q = np.asarray(verdict["softest_soft_mode_qpoint"])
    assert (
        not verdict["dynamically_stable"]
        and np.linalg.norm(q - np.rint(q)) > 0.3
        and study["harmonic"]["amplitude_A"] == 0.02
    )

    report_dir = tmp_path / "report"
    assert (
        main(["report", "--workdir", str(embedded_settings.workdir), "--out", str(report_dir)]) == 0
    )
    html = (report_dir / "index.html").read_text()
    assert "Doped electrolytes" in html and all(
        f'data-figure="doping_{name}"' in html
        for name in (
            "lattice_vs_T",
            "four_systems",
            "dihedrals",
            "arrhenius",
            "harmonic_dispersion",
        )
    )
    assert list(report_dir.glob("doping_*_systems.parquet"))
