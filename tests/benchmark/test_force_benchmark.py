"""The force benchmark: references read as phonopy reads them, metrics against known answers (a model replaying
the DFT forces has zero error; a known perturbation gives its RMSE), stability verdicts, pooling, the CLI."""

from __future__ import annotations

import csv
import io
import json
import lzma
import tarfile

import numpy as np
import phonopy
import pytest
from ase.calculators.calculator import Calculator, all_changes

from na_lattice_flows.benchmark.forces import (
    ModelEvaluation,
    evaluate_model,
    force_errors,
    summarize,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import (
    ReferenceError,
    displaced_supercells,
    load_reference,
    parse_phonopy_conf,
)
from na_lattice_flows.phonons.stability import StabilityVerdict, dynamic_stability


@pytest.fixture(scope="module")
def archive(phonondb_dev):
    return phonondb_dev / "mp-22862.tar.lzma"  # NaCl: 2 displaced 64-atom supercells


@pytest.fixture(scope="module")
def nacl_reference(archive):
    return load_reference(archive)


class ReplayCalculator(Calculator):
    """Answers with given forces for given positions (zero elsewhere): a 'model' whose error we know."""

    implemented_properties = ("energy", "forces")

    def __init__(self, supercells, forces):
        super().__init__()
        self.table = [
            (atoms.positions.copy(), np.asarray(f))
            for atoms, f in zip(supercells, forces, strict=True)
        ]

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        forces = next(
            (f for pos, f in self.table if np.allclose(pos, atoms.positions, atol=1e-8)), None
        )
        self.results = {
            "energy": 0.0,
            "forces": np.zeros((len(atoms), 3)) if forces is None else forces,
        }


def test_archive_matches_phonopys_own_reading(archive, nacl_reference, tmp_path):
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(archive.read_bytes()))) as tar:
        tar.extractall(tmp_path, filter="data")
    [folder] = list(tmp_path.iterdir())
    dim, primitive = parse_phonopy_conf((folder / "phonopy.conf").read_text())
    ph = phonopy.load(
        supercell_matrix=dim,
        primitive_matrix=primitive,
        unitcell_filename=str(folder / "POSCAR-unitcell"),
        force_sets_filename=str(folder / "FORCE_SETS"),
        is_nac=False,
        log_level=0,
    )
    assert nacl_reference.supercell_matrix == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    np.testing.assert_allclose(nacl_reference.forces, ph.forces)
    # force constants fitted by our path equal phonopy's own produce_force_constants on the same files
    np.testing.assert_allclose(
        fit_force_constants(nacl_reference).force_constants, ph.force_constants, atol=1e-10
    )
    # the folder itself and a phonopy_disp.yaml written by phonopy read the same
    np.testing.assert_allclose(load_reference(folder).forces, ph.forces)
    yaml_dir = tmp_path / "yaml"
    yaml_dir.mkdir()
    ph.save(str(yaml_dir / "phonopy_disp.yaml"), settings={"force_sets": False})
    (yaml_dir / "FORCE_SETS").write_bytes((folder / "FORCE_SETS").read_bytes())
    np.testing.assert_allclose(load_reference(yaml_dir / "phonopy_disp.yaml").forces, ph.forces)


def test_bad_references_are_named(tmp_path):
    with pytest.raises(ReferenceError, match="missing.tar.lzma: no such file"):
        load_reference(tmp_path / "missing.tar.lzma")
    broken = tmp_path / "broken.tar.lzma"
    broken.write_bytes(b"not lzma")
    with pytest.raises(ReferenceError, match="broken.tar.lzma: not a readable archive"):
        load_reference(broken)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README").write_text("nothing")
    with pytest.raises(ReferenceError, match="no POSCAR-unitcell"):
        load_reference(tmp_path / "empty")


def test_force_errors_of_a_known_perturbation():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(30, 100, 3))
    assert force_errors(reference, reference) == (0.0, 0.0)
    sigma = 0.05
    rmse, mae = force_errors(reference, reference + rng.normal(scale=sigma, size=reference.shape))
    assert rmse == pytest.approx(sigma, rel=0.02)
    assert mae == pytest.approx(sigma * np.sqrt(2 / np.pi), rel=0.02)  # mean |N(0, sigma)|


def test_a_model_that_replays_dft_has_zero_error_and_agrees_on_stability(nacl_reference):
    supercells = displaced_supercells(nacl_reference)
    replay = ReplayCalculator(supercells, nacl_reference.forces)
    evaluation, forces, _ = evaluate_model(nacl_reference, "replay", replay)
    np.testing.assert_array_equal(forces, nacl_reference.forces)
    assert evaluation.force_rmse_meV_per_A == 0.0 and evaluation.force_mae_meV_per_A == 0.0
    assert evaluation.ifc2_rmse_eV_per_A2 == pytest.approx(0.0, abs=1e-12)
    assert evaluation.dft_stability.dynamically_stable and evaluation.stability_agrees
    assert evaluation.n_force_components == 2 * 64 * 3


def test_a_perturbed_reference_gives_the_expected_rmse_and_fc_error(nacl_reference):
    supercells = displaced_supercells(nacl_reference)
    offset = np.zeros_like(nacl_reference.forces)
    offset[:, :, 0] = 0.010  # +10 meV/A on every x component
    evaluation, _, _ = evaluate_model(
        nacl_reference, "offset", ReplayCalculator(supercells, nacl_reference.forces + offset)
    )
    # 1 of 3 components
    assert evaluation.force_rmse_meV_per_A == pytest.approx(10.0 / np.sqrt(3), rel=1e-9)
    assert evaluation.force_mae_meV_per_A == pytest.approx(10.0 / 3, rel=1e-9)
    # a uniform force carries no curvature: phonopy's symmetrisation removes it, so the FCs still agree
    assert evaluation.ifc2_rmse_eV_per_A2 < 1e-3


def test_reversed_forces_make_an_unstable_crystal(nacl_reference):
    supercells = displaced_supercells(nacl_reference)
    evaluation, _, _ = evaluate_model(
        nacl_reference, "reversed", ReplayCalculator(supercells, -nacl_reference.forces)
    )
    assert evaluation.mlp_stability.dynamically_stable is False
    assert evaluation.mlp_stability.min_frequency_thz < -1.0
    assert not evaluation.stability_agrees


def test_nacl_reference_is_stable_with_the_measured_transverse_optical_frequency(nacl_reference):
    ph = fit_force_constants(nacl_reference)
    verdict = dynamic_stability(ph)
    assert verdict.dynamically_stable and verdict.min_frequency_thz > -0.01
    # without the non-analytic term the Gamma optical mode is the TO mode: measured 4.9 THz (164 cm^-1)
    ph.run_qpoints([[0, 0, 0]])
    acoustic, optical = np.split(np.sort(ph.get_qpoints_dict()["frequencies"][0]), 2)
    np.testing.assert_allclose(acoustic, 0.0, atol=1e-3)
    assert optical == pytest.approx([4.9] * 3, rel=0.1)


def evaluation(
    model, structure, sq, n, agree=True, dft_stable=True, seconds=1.0
) -> ModelEvaluation:
    stable = StabilityVerdict(
        dynamically_stable=True, min_frequency_thz=0.0, min_frequency_qpoint=[0, 0, 0]
    )
    unstable = StabilityVerdict(
        dynamically_stable=False, min_frequency_thz=-1.0, min_frequency_qpoint=[0, 0, 0]
    )
    dft = stable if dft_stable else unstable
    other = dft if agree else (unstable if dft_stable else stable)
    return ModelEvaluation(
        structure=structure,
        formula="X",
        model=model,
        n_supercells=1,
        n_atoms_supercell=n // 3,
        n_force_components=n,
        force_rmse_meV_per_A=1e3 * np.sqrt(sq / n),
        force_mae_meV_per_A=0.0,
        force_sq_error_sum=sq,
        force_abs_error_sum=0.0,
        ifc2_rmse_eV_per_A2=0.1,
        n_ifc2_elements=9,
        dft_stability=dft,
        mlp_stability=other,
        seconds=seconds,
        seconds_per_supercell=seconds,
    )


def test_pooling_weighs_every_force_component_equally_and_ranks():
    summary = summarize(
        [
            evaluation("a", "s1", sq=0.0, n=300),
            evaluation("a", "s2", sq=4e-4, n=100),  # pooled: sqrt(4e-4 / 400) = 1 meV/A
            evaluation("b", "s1", sq=9e-4, n=300, agree=False),
            evaluation("b", "s2", sq=0.0, n=100),  # pooled: sqrt(9e-4 / 400) = 1.5 meV/A
        ]
    )
    assert summary.models["a"].force_rmse_meV_per_A == pytest.approx(1.0)
    assert summary.models["b"].force_rmse_meV_per_A == pytest.approx(1.5)
    assert summary.models["b"].stability_agreement == 0.5
    assert (summary.ranking, summary.chosen_model) == (["a", "b"], "a")


def test_a_model_that_calls_everything_stable_loses_on_balanced_accuracy():
    """8 DFT-stable and 2 DFT-unstable structures: 'lenient' calls all ten stable (80 % overall agreement, 50 %
    balanced), 'careful' misses two stable ones but finds both unstable (80 % overall, 87.5 % balanced) and wins,
    though its forces are worse."""
    rows = []
    for i in range(10):
        dft_stable = i < 8
        rows.append(
            evaluation("lenient", f"s{i}", sq=1e-4, n=300, agree=dft_stable, dft_stable=dft_stable)
        )
        rows.append(
            evaluation(
                "careful", f"s{i}", sq=9e-4, n=300, agree=not (i in (0, 1)), dft_stable=dft_stable
            )
        )
    summary = summarize(rows)
    lenient, careful = summary.models["lenient"], summary.models["careful"]
    assert lenient.stability_agreement == careful.stability_agreement == pytest.approx(0.8)
    assert (
        lenient.agreement_dft_stable,
        lenient.agreement_dft_unstable,
        lenient.balanced_accuracy,
    ) == (1.0, 0.0, 0.5)
    assert (careful.agreement_dft_stable, careful.agreement_dft_unstable) == (0.75, 1.0)
    assert careful.balanced_accuracy == pytest.approx(0.875)
    assert (careful.n_dft_stable, careful.n_dft_unstable) == (8, 2)
    assert summary.ranking == ["careful", "lenient"] and summary.chosen_model == "careful"


def test_speed_breaks_a_near_tie_on_verdicts():
    from na_lattice_flows.benchmark.forces import VERDICT_TIE, choose_model

    rows = [
        evaluation("slow", "s1", sq=1e-4, n=300, seconds=30.0),
        evaluation("fast", "s1", sq=4e-4, n=300, seconds=10.0),
    ]
    models = summarize(rows).models
    assert choose_model(models) == "fast"  # both 1.0 balanced accuracy: the faster wins
    # clearly worse verdicts: speed does not save it
    models["fast"].balanced_accuracy = 1.0 - 2 * VERDICT_TIE
    assert choose_model(models) == "slow"


def test_cli_json_has_the_documented_fields(archive, tmp_path, capsys):
    from na_lattice_flows.cli import main

    bad = tmp_path / "bad.tar.lzma"
    bad.write_bytes(b"x")
    assert main(["benchmark-forces", str(archive), str(bad), "--models", "chgnet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = result["models"]["chgnet"]
    assert set(metrics) >= {
        "force_rmse_meV_per_A",
        "force_mae_meV_per_A",
        "ifc2_rmse_eV_per_A2",
        "stability_agreement",
        "n_structures",
        "n_force_components",
        "agreement_dft_stable",
        "agreement_dft_unstable",
        "balanced_accuracy",
        "n_dft_stable",
        "n_dft_unstable",
    }
    # NaCl is DFT-stable: the unstable-class agreement is undefined (null) and the balanced accuracy is the stable one
    assert (
        metrics["n_dft_stable"],
        metrics["n_dft_unstable"],
        metrics["agreement_dft_unstable"],
    ) == (1, 0, None)
    assert (
        metrics["balanced_accuracy"]
        == metrics["agreement_dft_stable"]
        == metrics["stability_agreement"]
    )
    assert metrics["n_structures"] == 1 and metrics["n_force_components"] == 384
    assert 0 < metrics["force_rmse_meV_per_A"] < 20  # CHGNet on NaCl at 0.01 A displacements
    assert result["per_structure"][0]["structure"] == "mp-22862"
    assert result["failures"][0]["reference"] == str(bad)
    assert main(["benchmark-forces", str(archive), "--models", "nonsense-model"]) == 2


def test_benchmark_flow_through_fireworks_records_the_ranking(
    archive, embedded_settings, tmp_path, capsys
):
    from na_lattice_flows.benchmark.jobs import RANKING_JOB_NAME
    from na_lattice_flows.cli import main
    from na_lattice_flows.execution.launching import run_ready_jobs
    from na_lattice_flows.execution.stores import open_session

    workdir = ["--workdir", str(embedded_settings.workdir)]
    assert (
        main(["benchmark-forces", str(archive), "--models", "chgnet,7net-0", "--submit", *workdir])
        == 0
    )
    assert "2 models" in capsys.readouterr().out
    with open_session(embedded_settings) as session:
        assert run_ready_jobs(session, progress=False) == 3  # 1 structure x 2 models + ranking
        session.job_store.connect()
        ranking = session.job_store.query_one({"name": RANKING_JOB_NAME})["output"]
    assert set(ranking["models"]) == {"chgnet", "7net-0"}
    from na_lattice_flows.benchmark.forces import ModelMetrics, choose_model

    assert ranking["chosen_model"] == choose_model(
        {m: ModelMetrics(**v) for m, v in ranking["models"].items()}
    )
    best = ranking["models"][ranking["ranking"][0]]["balanced_accuracy"]
    assert ranking["models"][ranking["chosen_model"]]["balanced_accuracy"] >= best - 0.02
    assert len(ranking["per_structure"]) == 2

    # the stored ranking, from the command line and in the report
    capsys.readouterr()
    assert main(["results", "--benchmarks", "--format", "csv", *workdir]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["model"] for row in rows] == ranking["ranking"]
    assert [row["rank"] for row in rows] == ["1", "2"] and {row["benchmark"] for row in rows} == {
        "1"
    }
    assert [row["chosen"] == "True" for row in rows] == [
        m == ranking["chosen_model"] for m in ranking["ranking"]
    ]
    assert rows[0]["references"] == "mp-22862"
    out = embedded_settings.workdir / "report"
    assert main(["report", "--out", str(out), *workdir]) == 0
    assert "Models against DFT force references" in (out / "index.html").read_text()

    # the same references and models again: nothing added (a copy of the archive elsewhere is the same data)
    copy = tmp_path / "again" / archive.name
    copy.parent.mkdir()
    copy.write_bytes(archive.read_bytes())
    with open_session(embedded_settings) as session:
        before = session.launchpad.workflows.count_documents({})
    again = ["benchmark-forces", str(copy), "--models", "7net-0,chgnet", "--submit", *workdir]
    assert main(again) == 3
    assert "already submitted: force-benchmark-" in capsys.readouterr().out
    with open_session(embedded_settings) as session:
        assert session.launchpad.workflows.count_documents({}) == before
    assert main([*again, "--force"]) == 0
    # an unreadable reference is refused at submission, not on the worker
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main(["benchmark-forces", str(empty), "--models", "chgnet", "--submit", *workdir]) == 2
    assert "empty.yaml" in capsys.readouterr().err


def test_nan_forces_are_refused_and_the_command_names_bad_references_before_any_work(
    archive, tmp_path, capsys
):

    from na_lattice_flows.cli import main

    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(archive.read_bytes()))) as tar:
        tar.extractall(tmp_path / "nacl", filter="data")
    (force_sets,) = (tmp_path / "nacl").rglob("FORCE_SETS")
    lines = force_sets.read_text().splitlines()
    last = (
        len(lines) - 1 - next(i for i, line in enumerate(reversed(lines)) if len(line.split()) == 3)
    )
    lines[last] = "   nan   0.0   0.0"  # one force component of the last supercell
    force_sets.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReferenceError, match="1 force components are not finite numbers"):
        load_reference(force_sets.parent)

    cif = tmp_path / "NaCl.cif"
    cif.write_text("data_x\n")
    cases = [
        ([str(tmp_path / "missing.tar.lzma")], "missing.tar.lzma: no such file or folder"),
        ([str(cif)], "NaCl.cif: not a reference (give a phononDB archive"),
        ([str(archive), "--models", ""], "--models '': give at least one model name"),
    ]
    for arguments, says in cases:
        assert main(["benchmark-forces", *arguments]) == 2
        assert says in capsys.readouterr().err
