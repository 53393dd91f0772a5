"""The Python API and the user-facing scripts of flows/: the flows they return and what they submit."""

from __future__ import annotations

import runpy

import pytest
from conftest import REPO

from na_lattice_flows.api import benchmark_flow, screening_flows, screening_maker, validation_flow
from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.candidates.loaders import LoadResult
from na_lattice_flows.dft.gpaw_jobs import GPAWRelaxMaker
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.relax.jobs import MLPRelaxMaker, relaxation_outcome
from na_lattice_flows.routing import CPU, GPU, job_category


def script(name: str):
    return runpy.run_path(str(REPO / "flows" / f"{name}.py"), run_name="imported")["main"]


def test_screening_flows_returns_one_flow_per_accepted_structure_with_the_chosen_engines(tmp_path):
    flows, report = screening_flows(
        LoadResult(candidates=demo_candidates()),
        screening_maker(model="7net-0", md_preset="short", trajectory_dir=tmp_path),
    )
    assert set(flows) == {c.candidate_id for c in demo_candidates()} and report.rejections == []
    first = flows["demo-NaCl"].jobs[0]
    assert (
        isinstance(first.maker, MLPRelaxMaker)
        and first.maker.model == "7net-0"
        and job_category(first) == GPU
    )
    gpaw = screening_maker(relax_engine="gpaw").make(demo_candidates()[0]).jobs[0]
    assert isinstance(gpaw.maker, GPAWRelaxMaker) or gpaw.function.__name__ == "gpaw_relax"
    assert job_category(gpaw) == CPU
    vasp = screening_maker(relax_engine="vasp").make(demo_candidates()[0]).jobs[0]
    assert [job_category(job) for job in vasp.jobs] == [CPU, CPU]  # the double relax
    with pytest.raises(
        ValueError, match="relax_engine: Input should be .mlp., .gpaw. or .vasp. \\(got .castep.\\)"
    ):
        screening_maker(relax_engine="castep")
    with pytest.raises(
        ValueError, match=r"md_temperatures.1: Input should be greater than 0 \(got -5\)"
    ):
        screening_maker(md_temperatures=[800, -5])


def test_relaxation_outcome_reads_the_gpaw_document():
    from na_lattice_flows.dft.gpaw import GPAWSettings
    from na_lattice_flows.dft.gpaw_jobs import GPAWTaskDocument

    structure = demo_candidates()[0].structure
    document = GPAWTaskDocument(
        structure=structure,
        energy_eV=-27.0,
        energy_per_atom_eV=-3.375,
        forces_eV_per_A=[[0, 0, 0]] * 8,
        stress_eV_per_A3=[0] * 6,
        max_force_eV_per_A=0.0,
        converged=False,
        n_steps=7,
        settings=GPAWSettings(),
    )
    outcome = relaxation_outcome(document.model_dump())
    assert (outcome.energy_per_atom_eV, outcome.converged, outcome.n_steps) == (-3.375, False, 7)
    with pytest.raises(ValueError, match="not a force-field, GPAW or VASP task document"):
        relaxation_outcome({"structure": structure.as_dict(), "energy": 1.0})


def test_flows_scripts_submit_and_resubmission_adds_nothing(
    embedded_settings, tmp_path, capsys, phonondb_dev
):
    cif_dir = tmp_path / "cifs"
    cif_dir.mkdir()
    for candidate in demo_candidates()[:2]:
        candidate.structure.to(filename=str(cif_dir / f"{candidate.candidate_id}.cif"))
    submit_screening = script("submit_screening")
    args = [
        str(cif_dir),
        "--md-preset",
        "short",
        "--workdir",
        str(embedded_settings.workdir),
        "--trajectory-dir",
        str(tmp_path / "t"),
    ]
    submit_screening(args)
    assert "2 flows submitted" in capsys.readouterr().out
    submit_screening(args)
    out = capsys.readouterr().out
    assert (
        "0 flows submitted, 2 structures not submitted" in out
        and "already submitted with the same settings" in out
    )

    archive = sorted(phonondb_dev.glob("*.tar.lzma"))[0]
    script("submit_benchmark")(
        [str(archive), "--models", "chgnet,7net-0", "--workdir", str(embedded_settings.workdir)]
    )
    assert "force benchmark (1 references x 2 models) submitted" in capsys.readouterr().out
    with open_session(embedded_settings) as session:
        kinds = [
            wf["metadata"].get("kind")
            for wf in session.launchpad.workflows.find({}, {"metadata": 1})
        ]
        categories = {
            fw["spec"].get("_category")
            for fw in session.launchpad.fireworks.find({}, {"spec._category": 1})
        }
    assert kinds.count("mlp force benchmark") == 1 and len(kinds) == 3
    assert categories == {GPU, None}  # routed at submission


def test_benchmark_and_validation_flows_refuse_what_they_cannot_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such reference: .*absent.tar.lzma"):
        benchmark_flow([tmp_path / "absent.tar.lzma"], ["chgnet"])
    with pytest.raises(ValueError):
        validation_flow({}, top=3)  # no finished MD to validate


def test_doped_study_script_submits_the_study_with_its_harmonic_check(
    embedded_settings, tmp_path, capsys
):
    cif = tmp_path / "Na3SbS4.cif"
    next(c for c in demo_candidates() if c.formula == "Na3SbS4").structure.to(filename=str(cif))
    script("submit_doped_study")(
        [
            str(cif),
            "--fractions",
            "0,0.125",
            "--preset",
            "short",
            "--model",
            "chgnet",
            "--workdir",
            str(embedded_settings.workdir),
        ]
    )
    assert "doped study Na3SbS4-" in capsys.readouterr().out
    with open_session(embedded_settings, read_only=True) as session:
        names = {
            fw["name"]: fw["spec"].get("_category")
            for fw in session.launchpad.fireworks.find({}, {"name": 1, "spec._category": 1})
        }
    harmonic = [name for name in names if name.startswith("harmonic check")]
    # relaxation and phonons of cubic Na3SbS4
    assert len(harmonic) == 2 and all(names[name] == GPU for name in harmonic)


def test_training_script_submits_doped_configurations_and_both_fits(
    embedded_settings, tmp_path, capsys
):
    cif = tmp_path / "Na3SbS4.cif"
    next(c for c in demo_candidates() if c.formula == "Na3SbS4").structure.to(filename=str(cif))
    script("submit_training")(
        [
            str(cif),
            "--supercell",
            "1x1x1",
            "--fractions",
            "0.5",
            "--seeds",
            "1,2",
            "--frames",
            "20",
            "--workdir",
            str(embedded_settings.workdir),
        ]
    )
    assert "(2 configurations) submitted" in capsys.readouterr().out
    with open_session(embedded_settings, read_only=True) as session:
        names = {
            fw["name"]: fw["spec"].get("_category")
            for fw in session.launchpad.fireworks.find({}, {"name": 1, "spec._category": 1})
        }
    assert names["force field fit allegro"] == GPU and names["force field fit sevennet"] == GPU
    assert (
        names["training labels gpaw 1/4"] == "cpu"
        and sum(name.startswith("training md W0.5000") for name in names) == 4
    )


def test_md_on_unstable_sends_every_structure_to_md_and_keeps_the_fingerprint_of_gated_campaigns():
    from na_lattice_flows.candidates.fingerprints import settings_fingerprint
    from na_lattice_flows.errors import InputError
    from na_lattice_flows.md.jobs import md_if_stable

    candidate = demo_candidates()[0]
    gated = screening_maker(model="chgnet", md_preset="short")
    ungated = screening_maker(model="chgnet", md_preset="short", md_on_unstable=True)
    assert settings_fingerprint(gated) == settings_fingerprint(
        screening_maker(model="chgnet", md_preset="short", md_on_unstable=False)
    )
    assert settings_fingerprint(ungated) != settings_fingerprint(gated)
    unstable = {"dynamically_stable": False, "min_frequency_thz": -1.0}
    for maker, runs_md in ((gated, False), (ungated, True)):
        gate = next(job for job in maker.make(candidate).jobs if job.name.startswith("md gate"))
        stability = (
            unstable if gate.function_args[0] is not None else None
        )  # what the gate is given
        out = md_if_stable.original(stability, *gate.function_args[1:])
        assert (getattr(out, "replace", None) is not None) == runs_md
    assert ungated.provenance().md_on_unstable is True and gated.provenance().md_on_unstable is None
    with pytest.raises(InputError, match="md-on-unstable"):
        screening_maker(md=False, md_on_unstable=True)
