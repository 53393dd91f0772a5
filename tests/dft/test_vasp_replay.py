"""The VASP makers replayed on recorded VASP runs (../shared/data/vasp_reference), the way atomate2's mock_vasp
does: the inputs each maker writes are checked (against the recorded inputs where our settings agree with the
ones it was run with, against our documented settings where they differ), the recorded outputs are copied in
place of VASP and parsed into atomate2 task documents, and the recorded MD becomes MSD/D. No POTCAR needed."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from jobflow import run_locally
from pymatgen.core import Structure
from pymatgen.io.vasp import Vasprun

from na_lattice_flows.dft.schemas import AIMDDocument
from na_lattice_flows.dft.vasp_jobs import (
    STRICT_RELAX_INCAR,
    TIGHT_STATIC_INCAR,
    VaspAIMDMaker,
    displaced_static_maker,
    strict_double_relax_maker,
)
from na_lattice_flows.md.trajectory import read_trajectory, read_trajectory_segments

pytestmark = pytest.mark.shared_data


def recorded_structure(vasp_reference: Path, run: str) -> Structure:
    with gzip.open(vasp_reference / run / "inputs" / "POSCAR.gz", "rt") as handle:
        return Structure.from_str(handle.read(), fmt="poscar")


def test_strict_double_relax_writes_its_settings_and_parses_the_recorded_run(
    mock_vasp, vasp_reference, tmp_path
):
    register, written = mock_vasp
    shared = [
        "ISIF",
        "IBRION",
        "NSW",
        "ENCUT",
        "PREC",
    ]  # what our strict set keeps from atomate2's relax set
    register(
        {"relax 1": "si_double_relax/relax_1", "relax 2": "si_double_relax/relax_2"},
        {"relax 1": {"incar_settings": shared}, "relax 2": {"incar_settings": shared}},
    )
    flow = strict_double_relax_maker().make(
        recorded_structure(vasp_reference, "si_double_relax/relax_1")
    )
    responses = run_locally(flow, create_folders=True, ensure_success=True, root_dir=tmp_path)
    for name in ("relax 1", "relax 2"):
        incar = written[name]["INCAR"]
        for key, value in STRICT_RELAX_INCAR.items():
            assert incar[key] == value, (name, key)
        assert incar["GGA"].upper() == "PE" and written[name]["POTCAR"] == [
            "Si"
        ]  # PBE, not atomate2's PBEsol default
        handlers = {
            type(h).__name__ for h in written[name]["run_vasp_kwargs"].get("handlers", ())
        } or {"atomate2 defaults"}
        assert "WalltimeHandler" not in handlers
    final = responses[flow.jobs[-1].uuid][1].output
    recorded = Vasprun(
        str(vasp_reference / "si_double_relax/relax_2/outputs/vasprun.xml.gz"),
        parse_potcar_file=False,
    )
    assert final.output.energy == pytest.approx(recorded.final_energy, abs=1e-6)
    assert final.output.structure.lattice.volume == pytest.approx(
        recorded.final_structure.lattice.volume, rel=1e-6
    )


def test_displaced_static_is_tight_and_returns_the_recorded_forces(
    mock_vasp, vasp_reference, tmp_path
):
    register, written = mock_vasp
    register(
        {"displaced static": "nacl_phonon/phonon_static_1_2"},
        {
            "displaced static": {
                "incar_settings": ["ENCUT", "EDIFF", "LREAL", "PREC", "NSW", "GGA"],
                "check_inputs": ["incar", "poscar", "potcar"],
            }
        },
    )
    structure = recorded_structure(vasp_reference, "nacl_phonon/phonon_static_1_2")
    static = displaced_static_maker(functional="PBEsol").make(structure)
    output = run_locally(static, create_folders=True, ensure_success=True, root_dir=tmp_path)[
        static.uuid
    ][1].output
    incar = written["displaced static"]["INCAR"]
    assert {key: incar[key] for key in TIGHT_STATIC_INCAR} == {**TIGHT_STATIC_INCAR, "LREAL": False}
    assert written["displaced static"]["POTCAR"] == ["Na_pv", "Cl"]
    recorded = Vasprun(
        str(vasp_reference / "nacl_phonon/phonon_static_1_2/outputs/vasprun.xml.gz"),
        parse_potcar_file=False,
    )
    forces = np.array(output.output.forces)
    np.testing.assert_allclose(forces, recorded.ionic_steps[-1]["forces"], atol=1e-8)
    assert np.abs(forces).max() > 1e-3  # the displaced atom feels a restoring force


def test_aimd_segments_are_nose_hoover_gamma_point_and_feed_the_transport_analysis(
    mock_vasp, vasp_reference, tmp_path
):
    """The recorded MD (Si, 300 K, POTIM 2, 3 steps) replayed as two chained segments of our AIMD maker."""
    register, written = mock_vasp
    shared = [
        "MDALGO",
        "SMASS",
        "ISIF",
        "IBRION",
        "NSW",
        "POTIM",
        "TEBEG",
        "TEEND",
        "ISYM",
        "PREC",
        "GGA",
        "ISPIN",
    ]
    register(
        {"molecular dynamics 1": "si_md", "molecular dynamics 2": "si_md"},
        {
            "molecular dynamics 1": {
                "incar_settings": shared,
                "check_inputs": ["incar", "poscar", "potcar"],
            },
            "molecular dynamics 2": {"incar_settings": shared, "check_inputs": ["incar", "potcar"]},
        },  # starts from segment 1's end
    )
    maker = VaspAIMDMaker(
        temperature_K=300,
        timestep_fs=2.0,
        n_steps=6,
        segment_steps=3,
        functional="PBEsol",
        wall_time_s=3600,
        element="Si",
    )
    flow = maker.make(recorded_structure(vasp_reference, "si_md"), "si")
    responses = run_locally(flow, create_folders=True, ensure_success=True, root_dir=tmp_path)
    for name in ("molecular dynamics 1", "molecular dynamics 2"):
        record = written[name]
        assert record["INCAR"]["ENCUT"] == 520 and record["INCAR"]["ISMEAR"] == 0
        assert record["KPOINTS"].kpts == [(1, 1, 1)] and record["KPOINTS"].style.name == "Gamma"
        assert record["run_vasp_kwargs"]["wall_time"] == 3600
        assert not {"PotimErrorHandler", "UnconvergedErrorHandler"} & {
            type(h).__name__ for h in record["run_vasp_kwargs"]["handlers"]
        }
    transport = responses[flow.jobs[-1].uuid][1].output
    vasprun = vasp_reference / "si_md" / "outputs" / "vasprun.xml.gz"
    single = read_trajectory(vasprun)
    assert (
        isinstance(transport, AIMDDocument)
        and transport.engine == "vasp"
        and len(transport.trajectory_paths) == 2
    )
    assert len(transport.curves["times_ps"]) == 2 * single.n_frames and transport.n_atoms == len(
        single.species
    )
    assert transport.analysis.temperature_K == 300 and transport.analysis.D_avg_A2_per_ps >= 0


def test_aimd_is_split_into_restartable_segments():
    maker = VaspAIMDMaker(n_steps=10_000, segment_steps=4000)
    flow = maker.make(
        Structure.from_spacegroup(
            "Fm-3m",
            [[5.64, 0, 0], [0, 5.64, 0], [0, 0, 5.64]],
            ["Na", "Cl"],
            [[0, 0, 0], [0.5, 0.5, 0.5]],
        )
    )
    segments = [
        job
        for job in flow.jobs[0].jobs
        if job.name.startswith("molecular dynamics ") and job.name[-1].isdigit()
    ]
    assert [job.maker.input_set_generator.nsteps for job in segments] == [4000, 4000, 2000]
    generator = segments[0].maker.input_set_generator
    assert (generator.start_temp, generator.end_temp, generator.time_step, generator.ensemble) == (
        800.0,
        800.0,
        1.5,
        "nvt",
    )
    with pytest.raises(ValueError, match="unknown functional"):
        VaspAIMDMaker(functional="LDA")


def test_segments_join_into_one_trajectory_across_wrapped_restarts(tmp_path):
    """A run cut in three, each restart writing positions wrapped into the cell, joins back into the original
    motion (up to one whole-cell shift of the start) and gives the same D."""
    from md_helpers import random_walk

    from na_lattice_flows.md.diffusion import element_diffusion
    from na_lattice_flows.md.trajectory import write_h5_trajectory

    walk = random_walk(0.5, n_walkers=16, n_frames=300, n_static=4, box=8.0)
    paths = []
    for index, (start, stop) in enumerate(((0, 100), (100, 200), (200, 300))):
        # a restart wraps its start
        wrapped = walk.positions[start:stop] - np.floor(walk.positions[start] / 8.0) * 8.0
        header = {
            "timestep_fs": walk.frame_interval_fs,
            "frame_interval_steps": 1,
            "temperature_K": 800.0,
        }
        paths.append(
            write_h5_trajectory(
                tmp_path / f"segment_{index}.h5",
                walk.species,
                walk.cell,
                header,
                np.arange(start, stop),
                wrapped,
                None,
            )
        )
    joined = read_trajectory_segments(paths)
    shift = joined.positions[0] - walk.positions[0]
    assert np.allclose(shift / 8.0, np.round(shift / 8.0), atol=1e-5)
    np.testing.assert_allclose(joined.positions - shift, walk.positions, atol=1e-4)
    assert element_diffusion(joined, "Na")[0].D_avg_A2_per_ps == pytest.approx(
        element_diffusion(walk, "Na")[0].D_avg_A2_per_ps, rel=1e-4
    )


def test_the_screening_summary_reads_a_vasp_relaxation(mock_vasp, vasp_reference, tmp_path):
    """`--relax-engine vasp`: the screening flow's relax step is the strict double relax, and the summary reads its
    TaskDoc (energy, convergence, ionic steps) as it reads an MLP's or GPAW's output. (The recorded run is Si, so
    the Na-specific summary itself is not run here.)"""
    from na_lattice_flows.api import screening_maker
    from na_lattice_flows.relax.jobs import relax_method, relaxation_outcome

    register, _ = mock_vasp
    register(
        {"relax 1": "si_double_relax/relax_1", "relax 2": "si_double_relax/relax_2"},
        {"relax 1": {"incar_settings": []}, "relax 2": {"incar_settings": []}},
    )
    relax_maker = screening_maker(relax_engine="vasp", phonons=False, md=False).relax_maker
    flow = relax_maker.make(recorded_structure(vasp_reference, "si_double_relax/relax_1"))
    responses = run_locally(flow, create_folders=True, ensure_success=True, root_dir=tmp_path)
    outcome = relaxation_outcome(responses[flow.jobs[-1].uuid][1].output)
    recorded = Vasprun(
        str(vasp_reference / "si_double_relax/relax_2/outputs/vasprun.xml.gz"),
        parse_potcar_file=False,
    )
    assert relax_method(relax_maker) == "vasp-PBE" and outcome.converged
    assert outcome.energy_per_atom_eV == pytest.approx(
        recorded.final_energy / len(recorded.final_structure), abs=1e-6
    )
    assert outcome.n_steps == len(recorded.ionic_steps)
