"""The doped study's presets carry the study's numbers, every number is configurable, and a bad value fails when
the flow is made (at submission), naming it."""

from __future__ import annotations

import pytest

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.doping.flow import DopedPhaseStudyMaker
from na_lattice_flows.doping.presets import doping_settings
from na_lattice_flows.routing import job_category


def test_paper_preset_is_the_studys():
    paper = doping_settings("paper")
    assert (paper.npt.timestep_fs, paper.npt.thermostat_time_fs, paper.npt.barostat_time_fs) == (
        2.0,
        200.0,
        2000.0,
    )
    assert paper.supercell == (12, 12, 12) and 16 * 12**3 == 27_648  # the study's ~27,600 atoms
    assert (
        paper.coarse_temperatures_K == [200.0 + 50 * i for i in range(9)]
        and paper.fine_step_K == 12.5
    )
    assert paper.dihedral_window_ps == 2.0 and paper.transport.production_ensemble == "nve"
    short = doping_settings("short", npt={"n_production_steps": 50}, fine_step_K=25)
    assert (
        short.npt.n_production_steps == 50
        and short.npt.barostat_time_fs == 2000.0
        and short.fine_step_K == 25
    )
    assert short.npt_temperatures_K == [300.0, 450.0, 600.0]


def test_bad_settings_fail_when_the_flow_is_made():
    with pytest.raises(ValueError, match="unknown doping preset 'long'"):
        DopedPhaseStudyMaker(preset="long")
    with pytest.raises(ValueError, match="fine_step_K"):
        DopedPhaseStudyMaker(preset="short", overrides={"fine_step_K": -1})
    with pytest.raises(ValueError, match="cannot exceed 1"):
        DopedPhaseStudyMaker(fractions=[0, 1.5])
    with pytest.raises(ValueError, match="DOPANT:HOST"):
        DopedPhaseStudyMaker(dopant="Xx")


def test_the_flow_has_one_step_per_point_and_the_fine_grid_in_one_gpu_job(tmp_path):
    structure = next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure()
    maker = DopedPhaseStudyMaker(
        model="chgnet", fractions=[0, 0.125], preset="short", trajectory_dir=str(tmp_path)
    )
    assert [name for name, _, _ in maker.systems()] == [
        "pristine",
        "W0.125+vac",
        "W0.125",
        "vac0.125",
    ]
    flow = maker.make(structure)
    names = [job.name for job in flow.jobs]
    # one fine-grid job per system
    assert sum(name.startswith("transition ") for name in names) == 4
    transition = next(job for job in flow.jobs if job.name == "transition pristine")
    assert job_category(transition) == "gpu"
    assert maker.study_id(structure) == DopedPhaseStudyMaker(
        model="chgnet",
        fractions=[0.125, 0],
        preset="short",
        trajectory_dir=str(tmp_path / "elsewhere"),
    ).study_id(structure)
    assert maker.study_id(structure) != DopedPhaseStudyMaker(
        model="chgnet", fractions=[0, 0.0625], preset="short"
    ).study_id(structure)
