"""Routing to heterogeneous workers: every job carries its category, the workers of fworker_configs/ take only
theirs, and the jobs the MD gate creates at run time are routed too."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import REPO
from fireworks import FWorker
from jobflow.managers.fireworks import flow_to_workflow
from pymatgen.core import Lattice, Structure

from na_lattice_flows.benchmark.jobs import ForceBenchmarkMaker, GPAWReferenceMaker
from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.candidates.loaders import Candidate
from na_lattice_flows.dft.gpaw import GPAWSettings
from na_lattice_flows.dft.gpaw_jobs import GPAWStaticMaker
from na_lattice_flows.execution.launching import run_ready_jobs
from na_lattice_flows.execution.submission import add_flow
from na_lattice_flows.md.jobs import MLPMDMaker, md_if_stable
from na_lattice_flows.relax.jobs import MLPRelaxMaker
from na_lattice_flows.routing import CPU, GPU, route

ANY = None  # jobs any worker may run carry no category
from na_lattice_flows.dft.vasp_jobs import VaspAIMDMaker, strict_double_relax_maker
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.workflow.screening import ScreeningFlowMaker

WORKERS = REPO / "fworker_configs"


def categories(flow) -> dict[str, str]:
    return {fw.name: fw.spec.get("_category") for fw in flow_to_workflow(route(flow)).fws}


def nacl() -> Structure:
    return Structure(
        Lattice.cubic(5.64),
        ["Na", "Cl"] * 4,
        [
            [0, 0, 0],
            [0.5, 0.5, 0.5],
            [0.5, 0.5, 0],
            [0, 0, 0.5],
            [0.5, 0, 0.5],
            [0, 0.5, 0],
            [0, 0.5, 0.5],
            [0.5, 0, 0],
        ],
    )


def test_each_kind_of_job_gets_its_category():
    candidate = demo_candidates()[0]
    screening = categories(
        ScreeningFlowMaker(md_maker=MLPMDMaker(trajectory_dir="t")).make(candidate)
    )
    assert screening == {
        "mlp relax demo-NaCl": GPU,
        "mlp phonons demo-NaCl": GPU,
        "md gate demo-NaCl": ANY,
        "screening summary": ANY,
    }
    assert set(categories(GPAWStaticMaker().make(nacl())).values()) == {CPU}
    assert set(categories(GPAWReferenceMaker().make(nacl(), "NaCl")).values()) == {CPU}
    assert set(categories(strict_double_relax_maker().make(nacl())).values()) == {CPU}
    assert set(categories(VaspAIMDMaker(n_steps=100).make(nacl(), "x")).values()) == {
        CPU,
        ANY,
    }  # the analysis runs anywhere
    benchmark = categories(ForceBenchmarkMaker(models=("chgnet",)).make(["ref.tar.lzma"]))
    assert list(benchmark.values()) == [GPU, ANY]  # the evaluation, then the ranking


def test_the_md_gate_routes_the_jobs_it_creates_instead_of_passing_on_its_own_category():
    maker = MLPMDMaker(preset="short", trajectory_dir="t", temperatures_K=[600.0, 800.0])
    gate = route(
        ScreeningFlowMaker(phonon_maker=None, md_maker=maker).make(demo_candidates()[0])
    ).jobs[1]
    assert gate.config.manager_config == {} and not gate.config.pass_manager_config
    response = md_if_stable.original({"dynamically_stable": True}, nacl(), "x", maker)
    created = {
        job.name: job.config.manager_config.get("_category")
        for job, _ in response.replace.iterflow()
    }
    assert created == {"mlp md x 600K": GPU, "mlp md x 800K": GPU, "transport summary x": ANY}


def test_a_cpu_worker_and_a_gpu_worker_take_only_their_jobs(embedded_settings, tmp_path):
    """One screening flow (MLP relax -> MD gate -> MLP MD -> summaries) and one GPAW static, dispatched by the
    two worker files of fworker_configs/ in turn on the embedded LaunchPad."""
    gpu, cpu = (
        FWorker.from_file(str(WORKERS / "gpu_worker.yaml")),
        FWorker.from_file(str(WORKERS / "cpu_worker.yaml")),
    )
    md = MLPMDMaker(
        preset="short",
        overrides={"n_equilibration_steps": 0, "n_production_steps": 60, "frame_interval_steps": 2},
        trajectory_dir=str(tmp_path / "trajectories"),
        min_supercell_atoms=2,
        use_kinisi=False,
    )
    screening = ScreeningFlowMaker(
        relax_maker=MLPRelaxMaker(steps=5), phonon_maker=None, md_maker=md, min_supercell_atoms=2
    )
    static = GPAWStaticMaker(
        settings=GPAWSettings(
            ecut_eV=200, kpts=(1, 1, 1), energy_convergence_eV=1e-3, density_convergence=1e-2
        )
    )
    with open_session(embedded_settings) as session:
        add_flow(session, screening.make(demo_candidates()[0]), "screening")
        add_flow(
            session,
            static.make(Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])),
            "dft",
        )

        def run(worker, **kwargs):
            before = set(doc["fw_id"] for doc in session.launchpad.launches.find({}, {"fw_id": 1}))
            run_ready_jobs(session, fworker=worker, progress=False, **kwargs)
            launches = session.launchpad.launches.find(
                {"fw_id": {"$nin": list(before)}}, {"fw_id": 1, "fworker": 1}
            )
            names = {}
            for launch in launches:
                firework = session.launchpad.fireworks.find_one(
                    {"fw_id": launch["fw_id"]}, {"name": 1, "spec._category": 1}
                )
                names[firework["name"]] = firework["spec"].get("_category")
                assert launch["fworker"]["name"] == worker.name
            return names

        # the CPU worker first: only the DFT job is ready for it (the gate waits for the relaxation)
        assert run(cpu) == {"gpaw static": CPU}
        assert run(gpu, max_jobs=1) == {"mlp relax demo-NaCl": GPU}
        # the gate runs anywhere: the CPU worker takes it, then stops at the MD job it created
        assert run(cpu) == {"md gate demo-NaCl": ANY}
        ready = {
            doc["name"]: doc["spec"].get("_category")
            for doc in session.launchpad.fireworks.find(
                {"state": "READY"}, {"name": 1, "spec._category": 1}
            )
        }
        assert ready == {"mlp md demo-NaCl 800K": GPU}
        assert run(gpu, max_jobs=1) == {"mlp md demo-NaCl 800K": GPU}
        # the rest (transport summary, jobflow's store_inputs for the replaced gate, screening summary) runs anywhere
        assert set(run(cpu).values()) == {ANY}
        assert run(gpu) == {}
        states = {
            doc["name"]: doc["state"]
            for doc in session.launchpad.fireworks.find({}, {"name": 1, "state": 1})
        }
    assert (
        states["screening summary"] == "COMPLETED"
        and states["mlp md demo-NaCl 800K"] == "COMPLETED"
    )
    assert states["gpaw static"] == ("COMPLETED" if importlib.util.find_spec("gpaw") else "FIZZLED")


def test_elastic_relaxations_created_at_run_time_go_to_gpu_workers(embedded_settings, tmp_path):
    """atomate2's elastic flow makes its strained-cell relaxations at run time: they inherit the GPU category
    of the job that creates them, so CPU workers leave them alone."""
    from na_lattice_flows.relax.jobs import mlp_elastic_maker

    gpu, cpu = (
        FWorker.from_file(str(WORKERS / "gpu_worker.yaml")),
        FWorker.from_file(str(WORKERS / "cpu_worker.yaml")),
    )
    screening = ScreeningFlowMaker(
        phonon_maker=None, md_maker=None, elastic_maker=mlp_elastic_maker(), min_supercell_atoms=2
    )
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()
    with open_session(embedded_settings) as session:
        add_flow(
            session,
            screening.make(Candidate(candidate_id="NaCl", structure=nacl, source="test")),
            "elastic",
        )
        for _ in range(20):  # the workers in turn until nothing is left
            if not run_ready_jobs(session, fworker=cpu, progress=False) + run_ready_jobs(
                session, fworker=gpu, progress=False
            ):
                break
        fireworks = list(
            session.launchpad.fireworks.find(
                {}, {"fw_id": 1, "name": 1, "state": 1, "spec._category": 1}
            )
        )
        workers = {
            launch["fw_id"]: launch["fworker"]["name"]
            for launch in session.launchpad.launches.find({}, {"fw_id": 1, "fworker": 1})
        }
    strained = [fw for fw in fireworks if fw["name"].startswith("mlp elastic relax")]
    assert len(strained) >= 2 and all(
        fw["spec"].get("_category") == GPU and workers[fw["fw_id"]] == gpu.name for fw in strained
    )
    assert all(fw["state"] == "COMPLETED" for fw in fireworks)
    assert all(
        workers[fw["fw_id"]] == gpu.name for fw in fireworks if fw["spec"].get("_category") == GPU
    )


def test_worker_files_load_and_an_uncategorised_worker_takes_everything():
    local = FWorker.from_file(str(WORKERS / "local_worker.yaml"))
    assert "spec._category" not in local.query
    for name, category in (("gpu_worker", GPU), ("cpu_worker", CPU)):
        worker = FWorker.from_file(str(WORKERS / f"{name}.yaml"))
        assert worker.query["spec._category"] == {"$in": [category, None]}


@pytest.mark.parametrize("kind", ["gpu", "cpu"])
def test_slurm_queue_adapters_write_a_batch_script_that_launches_the_matching_worker(
    kind, tmp_path
):
    from fireworks.utilities.fw_serializers import load_object_from_file

    adapter = load_object_from_file(str(WORKERS / f"qadapter_{kind}_slurm.yaml"))
    script = adapter.get_script_str(str(tmp_path))
    assert script.startswith("#!/bin/bash") and "#SBATCH --time=" in script
    assert f"fworker_configs/{kind}_worker.yaml" in script and "rlaunch" in script
    assert ("#SBATCH --gres=gpu:1" in script) == (kind == "gpu")


def test_na_flows_run_takes_a_worker_file(embedded_settings, capsys):
    from na_lattice_flows.cli import main

    with open_session(embedded_settings) as session:
        add_flow(session, MLPRelaxMaker().make(nacl()), "relax only")
    main(
        [
            "run",
            "--fworker",
            str(WORKERS / "cpu_worker.yaml"),
            "--workdir",
            str(embedded_settings.workdir),
        ]
    )
    # an MLP job is no CPU work
    assert "Launched 0 jobs; job states now: READY 1" in capsys.readouterr().out


def test_update_maker_kwargs_reaches_the_phonon_and_md_settings_of_a_screening_flow():
    """Jobs carry their Makers: a powerup on the made flow changes what the phonon job computes, the MD the gate
    will create and the provenance the summary records, and the change survives the flow's serialisation."""
    from jobflow import Flow

    candidate = demo_candidates()[0]
    flow = ScreeningFlowMaker(md_maker=MLPMDMaker(preset="short", trajectory_dir="t")).make(
        candidate
    )
    flow.update_maker_kwargs({"n_supercells": 7}, name_filter="mlp phonons")
    flow.update_maker_kwargs(
        {"temperatures_K": [1000.0], "preset": "campaign"}, name_filter="mlp md"
    )
    flow = Flow.from_dict(flow.as_dict())  # as a worker reads it
    _, phonons, gate, summary = flow.jobs
    assert phonons.maker.n_supercells == 7 and phonons.name == "mlp phonons demo-NaCl"
    assert categories(flow)["mlp phonons demo-NaCl"] == GPU  # the tag on the Maker's job method
    md_flow = md_if_stable.original({"dynamically_stable": True}, *gate.function_args[1:]).replace
    (run,) = [job for job in md_flow.jobs if job.function.__name__ == "mlp_md"]
    settings = run.function_args[3]
    assert (settings.temperature_K, settings.n_production_steps) == (1000.0, 6700)
    provenance = summary.function_kwargs["flow_maker"].provenance()
    assert (provenance.md_preset, provenance.md_production_ps) == ("campaign", 6700 * 1.5 / 1000)
    # the Maker the flow was made from is untouched: its campaigns keep their settings fingerprint
    assert ScreeningFlowMaker().phonon_maker.n_supercells == 30


def test_every_job_function_tagged_gpu_or_cpu_keeps_its_category():
    """The categories moved from a name table onto the job functions: the heavy ones keep theirs."""
    from na_lattice_flows.benchmark.jobs import evaluate_model_on_reference
    from na_lattice_flows.dft.gpaw_jobs import gpaw_aimd
    from na_lattice_flows.doping.jobs import doped_npt_point
    from na_lattice_flows.md.jobs import mlp_md
    from na_lattice_flows.phonons.jobs import MLPPhononMaker, mlp_phonons
    from na_lattice_flows.routing import job_category
    from na_lattice_flows.training.jobs import label_training_frames

    structure = nacl()
    assert job_category(MLPPhononMaker(model="chgnet").make(structure, "x")) == GPU
    assert (
        job_category(mlp_phonons(structure, "x", "chgnet", 2, 0.03, 0, "symfc", 800, 1.5, 8)) == GPU
    )
    for function, category in [
        (evaluate_model_on_reference, GPU),
        (mlp_md, GPU),
        (doped_npt_point, GPU),
        (gpaw_aimd, CPU),
        (label_training_frames, CPU),
    ]:
        assert function.original.worker_category == category, function.__name__
