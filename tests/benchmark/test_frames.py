"""The benchmark on trajectory frames against exact labels: EMT (ASE's effective-medium potential) stands in for
DFT on Cu3Au MD frames. A model that replays the labels scores 0, known perturbations give their analytic RMSE,
random noise gives numpy's RMSE, sampling is seeded; real VASP output is read by two independent parsers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from na_lattice_flows.benchmark.frames import benchmark_frames, frame_benchmark_json
from na_lattice_flows.benchmark.labelled_frames import (
    FrameSourceError,
    read_labelled_frames,
    sample_frame_indices,
)
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.settings import MDSettings


@pytest.fixture(scope="module")
def emt_run(tmp_path_factory):
    """EMT MD of Cu3Au (32 atoms) at 600 K, 30 frames, with the labels kept as the GPAW AIMD keeps them."""
    atoms = bulk("Cu", "fcc", a=3.70, cubic=True).repeat((2, 2, 2))
    atoms.symbols[::4] = "Au"
    settings = MDSettings(
        temperature_K=600.0,
        timestep_fs=2.0,
        n_equilibration_steps=10,
        n_production_steps=58,
        frame_interval_steps=2,
        checkpoint_interval_steps=20,
        seed=4,
    )
    path = tmp_path_factory.mktemp("emt") / "cu3au.h5"
    run_langevin_md(atoms, EMT(), settings, path, progress=False, record_labels=True)
    return path


class Replay(Calculator):
    """The reference labels of whichever frame has these positions, plus a chosen perturbation."""

    implemented_properties = ("energy", "forces", "stress")

    def __init__(
        self, frames, force_shift=None, energy_shift_per_atom=0.0, stress_shift=None, noise=None
    ):
        super().__init__()
        self.frames, self.force_shift, self.noise = frames, force_shift, noise
        self.energy_shift_per_atom, self.stress_shift = energy_shift_per_atom, stress_shift

    def _frame(self, atoms):
        distances = [np.abs(frame.atoms.positions - atoms.positions).max() for frame in self.frames]
        index = int(np.argmin(distances))
        assert distances[index] < 1e-6  # extended XYZ keeps 8 decimals
        return index, self.frames[index]

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        index, frame = self._frame(self.atoms)
        forces = frame.forces.copy()
        if self.force_shift is not None:
            forces = forces + self.force_shift(self.atoms)
        if self.noise is not None:
            forces = forces + self.noise[index]
        self.results = {
            "forces": forces,
            "energy": (frame.energy_eV or 0.0) + self.energy_shift_per_atom * len(self.atoms),
        }
        if frame.stress_eV_per_A3 is not None:
            self.results["stress"] = frame.stress_eV_per_A3 + (
                0.0 if self.stress_shift is None else self.stress_shift
            )


def test_the_md_keeps_the_calculators_labels_of_every_frame(emt_run):
    frames = read_labelled_frames(emt_run)
    assert len(frames) == 30
    for frame in frames[::7]:
        atoms = frame.atoms.copy()
        atoms.calc = EMT()
        # positions are stored as float32
        np.testing.assert_allclose(frame.forces, atoms.get_forces(), atol=2e-4)
        assert frame.energy_eV == pytest.approx(atoms.get_potential_energy(), abs=2e-4)
    assert len({round(f.energy_eV, 6) for f in frames}) == 30  # thirty different configurations


def test_a_model_replaying_the_labels_scores_zero(emt_run):
    frames = read_labelled_frames(emt_run)
    result = benchmark_frames(
        [emt_run],
        ["replay"],
        n_frames=12,
        seed=1,
        calculators={"replay": Replay(frames)},
        progress=False,
    )
    metrics = result.models["replay"]
    assert metrics.force_rmse_meV_per_A == 0 and metrics.force_mae_meV_per_A == 0
    # the MD kept no stress
    assert metrics.energy_rmse_meV_per_atom == 0 and metrics.stress_rmse_GPa is None
    assert metrics.n_frames == 12 and metrics.n_force_components == 12 * 32 * 3
    assert set(metrics.force_rmse_per_element_meV_per_A) == {"Cu", "Au"}
    assert result.per_file[0].frame_indices == sample_frame_indices(30, 12, 1).tolist()


def test_known_perturbations_give_their_analytic_errors(emt_run, tmp_path):
    """delta on every x component: RMSE delta/sqrt(3), MAE delta/3; only on Au: Cu scores 0, Au delta/sqrt(3);
    a constant energy shift is all offset; a shift of sigma_xx: stress RMSE sigma/sqrt(6)."""
    frames = read_labelled_frames(emt_run)
    delta = 0.05
    on_x = lambda atoms: np.tile([delta, 0.0, 0.0], (len(atoms), 1))
    result = benchmark_frames(
        [emt_run],
        ["x"],
        n_frames=30,
        calculators={"x": Replay(frames, on_x, energy_shift_per_atom=0.002)},
        progress=False,
    )
    metrics = result.models["x"]
    assert metrics.force_rmse_meV_per_A == pytest.approx(1e3 * delta / np.sqrt(3))
    assert metrics.force_mae_meV_per_A == pytest.approx(1e3 * delta / 3)
    assert metrics.energy_rmse_meV_per_atom == pytest.approx(
        2.0
    ) and metrics.energy_rmse_offset_removed_meV_per_atom == pytest.approx(0, abs=1e-9)
    assert result.per_file[0].energy_offset_meV_per_atom == pytest.approx(2.0)

    on_gold = lambda atoms: np.where((atoms.numbers == 79)[:, None], [delta, 0.0, 0.0], 0.0)
    metrics = benchmark_frames(
        [emt_run], ["au"], calculators={"au": Replay(frames, on_gold)}, progress=False
    ).models["au"]
    assert metrics.force_rmse_per_element_meV_per_A["Cu"] == 0
    assert metrics.force_rmse_per_element_meV_per_A["Au"] == pytest.approx(1e3 * delta / np.sqrt(3))
    # Au is a quarter of the atoms
    assert metrics.force_rmse_meV_per_A == pytest.approx(1e3 * delta / np.sqrt(3) / 2)

    stressed = []
    for frame in frames[:5]:
        atoms = frame.atoms.copy()
        atoms.calc = SinglePointCalculator(
            atoms, energy=frame.energy_eV, forces=frame.forces, stress=np.arange(6) * 1e-3
        )
        stressed.append(atoms)
    write(tmp_path / "stressed.extxyz", stressed)
    labelled = read_labelled_frames(tmp_path / "stressed.extxyz")
    sigma = np.array([0.01, 0, 0, 0, 0, 0])
    metrics = benchmark_frames(
        [tmp_path / "stressed.extxyz"],
        ["s"],
        calculators={"s": Replay(labelled, stress_shift=sigma)},
        progress=False,
    ).models["s"]
    assert metrics.stress_rmse_GPa == pytest.approx(0.01 / units.GPa / np.sqrt(6))
    assert metrics.force_rmse_meV_per_A == 0


def test_noise_gives_numpys_rmse_pooled_over_files_and_forces_only_frames_give_force_metrics(
    emt_run, tmp_path
):
    frames = read_labelled_frames(emt_run)
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.03, size=(30, 32, 3))
    forces_only = []
    for frame in frames[:10]:
        atoms = frame.atoms.copy()
        atoms.calc = SinglePointCalculator(atoms, forces=frame.forces)
        forces_only.append(atoms)
    write(tmp_path / "forces_only.xyz", forces_only)
    replay = Replay(frames, noise=noise)
    result = benchmark_frames(
        [emt_run, tmp_path / "forces_only.xyz"],
        ["noisy"],
        n_frames=8,
        seed=3,
        calculators={"noisy": replay},
        progress=False,
    )
    chosen = [noise[i] for i in sample_frame_indices(30, 8, 3)] + [
        noise[i] for i in sample_frame_indices(10, 8, 3)
    ]
    expected = np.asarray(chosen)
    metrics = result.models["noisy"]
    assert metrics.force_rmse_meV_per_A == pytest.approx(1e3 * np.sqrt(np.mean(expected**2)))
    assert metrics.force_mae_meV_per_A == pytest.approx(1e3 * np.mean(np.abs(expected)))
    assert metrics.n_files == 2 and metrics.n_frames == 16
    # the .h5 frames have energies; the XYZ ones have none
    assert metrics.energy_rmse_meV_per_atom == 0
    only_forces = benchmark_frames(
        [tmp_path / "forces_only.xyz"], ["noisy"], calculators={"noisy": replay}, progress=False
    )
    assert (
        only_forces.models["noisy"].energy_rmse_meV_per_atom is None
        and only_forces.models["noisy"].stress_rmse_GPa is None
    )
    parity = result.parity["noisy"]
    assert len(parity["reference_eV_per_A"]) == 16 * 32 * 3


def test_sampling_is_seeded_and_bad_sources_are_named_failures(emt_run, tmp_path):
    assert sample_frame_indices(100, 10, 5).tolist() == sample_frame_indices(100, 10, 5).tolist()
    assert sample_frame_indices(100, 10, 5).tolist() != sample_frame_indices(100, 10, 6).tolist()
    assert sample_frame_indices(7, 10, 5).tolist() == list(range(7))
    assert len(set(sample_frame_indices(100, 99, 0))) == 99
    with pytest.raises(ValueError, match="at least 1"):
        sample_frame_indices(10, 0, 0)
    no_forces = bulk("Cu", "fcc", a=3.6).repeat(2)
    write(tmp_path / "bare.xyz", [no_forces, no_forces])
    with pytest.raises(FrameSourceError, match="no frame carries forces"):
        read_labelled_frames(tmp_path / "bare.xyz")
    frames = read_labelled_frames(emt_run)
    result = benchmark_frames(
        [tmp_path / "bare.xyz", emt_run],
        ["replay"],
        n_frames=3,
        calculators={"replay": Replay(frames)},
        progress=False,
    )
    assert result.models["replay"].n_files == 1  # the bad file did not stop the good one
    assert (
        result.failures[0]["source"].endswith("bare.xyz")
        and "no frame carries forces" in result.failures[0]["error"]
    )


def test_vasp_md_output_reads_the_same_through_vasprun_outcar_and_xdatcar(vasp_reference, tmp_path):
    import shutil

    outputs = vasp_reference / "si_md" / "outputs"
    vasprun = read_labelled_frames(outputs / "vasprun.xml.gz")
    outcar = read_labelled_frames(outputs / "OUTCAR.gz")
    assert len(vasprun) == len(outcar) >= 3
    for a, b in zip(vasprun, outcar, strict=True):
        np.testing.assert_allclose(a.forces, b.forces, atol=2e-6)  # OUTCAR prints 6 decimals
        assert a.energy_eV == pytest.approx(b.energy_eV, abs=1e-6)
        np.testing.assert_allclose(a.stress_eV_per_A3, b.stress_eV_per_A3, atol=1e-6)
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(outputs / "OUTCAR.gz", folder / "OUTCAR.gz")
    (folder / "XDATCAR").write_text("not read: the forces come from the OUTCAR beside it\n")
    assert len(read_labelled_frames(folder / "XDATCAR")) == len(outcar)
    (folder / "OUTCAR.gz").unlink()
    with pytest.raises(FrameSourceError, match="XDATCAR has no forces"):
        read_labelled_frames(folder / "XDATCAR")


def test_command_prints_the_benchmark_forces_layout_and_real_model_errors(
    emt_run, tmp_path, capsys
):
    """chgnet on ten EMT frames through the command: the JSON's RMSE equals numpy on chgnet's own forces."""
    from na_lattice_flows.cli import main
    from na_lattice_flows.models import get_calculator

    frames = read_labelled_frames(emt_run)
    assert (
        main(
            [
                "benchmark-frames",
                str(emt_run),
                "--models",
                "chgnet",
                "--frames",
                "10",
                "--seed",
                "2",
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    chosen = sample_frame_indices(30, 10, 2)
    calculator = get_calculator("chgnet")
    differences = []
    for index in chosen:
        atoms = frames[index].atoms.copy()
        atoms.calc = calculator
        differences.append(atoms.get_forces() - frames[index].forces)
    metrics = payload["models"]["chgnet"]
    assert metrics["force_rmse_meV_per_A"] == pytest.approx(
        1e3 * np.sqrt(np.mean(np.square(differences))), rel=1e-5
    )
    assert payload["ranking"] == ["chgnet"] and payload["chosen_model"] == "chgnet"
    assert payload["per_file"][0]["frame_indices"] == chosen.tolist() and payload["failures"] == []
    assert main(["benchmark-frames", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5: no such trajectory" in capsys.readouterr().err
    # frames without forces, and an --output that cannot be written, are refused before any model loads
    unlabelled = tmp_path / "positions_only.xyz"
    write(unlabelled, [frames[0].atoms.copy()], format="extxyz")
    assert main(["benchmark-frames", str(emt_run), str(unlabelled), "--models", "chgnet"]) == 2
    assert "positions_only.xyz: no frame carries forces" in capsys.readouterr().err
    for output, says in (
        (tmp_path, "a folder; give a file name"),
        ("/proc/out.json", "cannot write"),
    ):
        with pytest.raises(SystemExit) as refused:  # argparse's usage error, as the type parses
            main(["benchmark-frames", str(emt_run), "--output", str(output)])
        assert refused.value.code == 2 and says in capsys.readouterr().err
    assert main(["benchmark-frames", str(emt_run), "--models", "nonsense"]) == 2
    assert main(["benchmark-frames", str(emt_run), "--models", ""]) == 2
    assert "--models '': give at least one model name" in capsys.readouterr().err
    assert main(["benchmark-frames", str(emt_run), "--frames", "0"]) == 2


def test_frame_benchmark_json_has_no_parity_arrays(emt_run):
    frames = read_labelled_frames(emt_run)
    result = benchmark_frames(
        [emt_run], ["replay"], n_frames=2, calculators={"replay": Replay(frames)}, progress=False
    )
    payload = frame_benchmark_json(result)
    assert "parity" not in payload and payload["per_file"][0][
        "force_rmse_per_element_meV_per_A"
    ] == {"Cu": 0.0, "Au": 0.0}


def test_the_frame_job_follows_the_aimd_validation_and_keeps_parity_in_the_data_store(
    emt_run, tmp_path
):
    """The job takes the validation's comparison documents (their AIMD paths; a failed one arrives as None); the
    validation flow with frame models ends in it, routed to GPU workers."""
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from na_lattice_flows.api import validation_flow
    from na_lattice_flows.benchmark.jobs import (
        FRAME_BENCHMARK_JOB_NAME,
        benchmark_trajectory_frames,
    )
    from na_lattice_flows.routing import route

    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    frame_job = benchmark_trajectory_frames(
        [{"aimd_trajectory_paths": [str(emt_run)]}, None], ["chgnet"], 3, 0
    )
    run_locally(frame_job, store=store, create_folders=True, root_dir=tmp_path, ensure_success=True)
    document = store.query_one({"uuid": frame_job.uuid}, load=True)["output"]
    assert document["models"]["chgnet"]["n_frames"] == 3 and document["failures"] == []
    assert len(document["parity"]["chgnet"]["reference_eV_per_A"]) == 3 * 32 * 3
    raw = store.query_one({"uuid": frame_job.uuid}, load=False)["output"]
    assert "blob_uuid" in raw["parity"]  # a reference into the data store, not the arrays

    summaries = {
        "x": {
            "relaxed_structure": _nacl().as_dict(),
            "transport": {
                "D_avg_A2_per_ps": 0.1,
                "melted": False,
                "reference_trajectory_path": str(emt_run),
            },
        }
    }
    flow = route(
        validation_flow(summaries, top=1, engine="gpaw", frame_models=["chgnet"], n_frames=50)
    )
    last = [job for job, _ in flow.iterflow()][-1]
    assert (
        last.name == FRAME_BENCHMARK_JOB_NAME and last.config.manager_config["_category"] == "gpu"
    )
    plain = validation_flow(summaries, top=1, engine="gpaw")
    assert FRAME_BENCHMARK_JOB_NAME not in [job.name for job, _ in plain.iterflow()]
    phonons = route(validation_flow(summaries, top=1, engine="gpaw", dft_phonon_model="chgnet"))
    categories = {
        job.name: job.config.manager_config.get("_category") for job, _ in phonons.iterflow()
    }
    assert (
        categories["gpaw displacement reference x"] == "cpu"
        and categories["dft vs mlp phonons x"] == "gpu"
    )
    # with VASP AIMD, the DFT phonons are VASP's too: one static per supercell on CPU workers, collected anywhere
    phonons = route(validation_flow(summaries, top=1, engine="vasp", dft_phonon_model="chgnet"))
    categories = {
        job.name: job.config.manager_config.get("_category") for job, _ in phonons.iterflow()
    }
    statics = [name for name in categories if name.startswith("vasp displacement reference x ")]
    assert len(statics) == 30 and {categories[name] for name in statics} == {"cpu"}
    assert (
        categories["vasp displacement reference x"] is None
        and categories["dft vs mlp phonons x"] == "gpu"
    )


def _nacl():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_the_report_section_shows_models_per_element_errors_and_parity(emt_run, tmp_path):
    from dataclasses import dataclass, field
    from pathlib import Path

    from na_lattice_flows.analysis.html import figure_html
    from na_lattice_flows.analysis.training_figures import force_field_section

    @dataclass
    class Page:
        out_dir: Path
        figures: list = field(default_factory=list)

        @property
        def figure_dir(self):
            return self.out_dir / "figures"

        def figure(self, paths, caption):
            self.figures += paths
            return figure_html(paths, caption, self.out_dir)

    frames = read_labelled_frames(emt_run)
    on_x = lambda atoms: np.tile([0.05, 0.0, 0.0], (len(atoms), 1))
    result = benchmark_frames(
        [emt_run],
        ["replay", "shifted"],
        n_frames=5,
        progress=False,
        calculators={"replay": Replay(frames), "shifted": Replay(frames, on_x)},
    )
    trained = {
        "model": "allegro:/m/model.nequip.zip",
        "route": "allegro",
        "dataset": "d",
        "n_frames": {"train": 3},
        "seconds": 1.0,
        "curves": {
            "epoch": [0.0, 1.0],
            "train_loss": [1.0, 0.5],
            "val_force_rmse_eV_per_A": [0.3, 0.1],
        },
        "test": result.model_dump(),
    }
    page = Page(tmp_path)
    section = force_field_section(page, [trained], [result.model_dump()], [])
    assert "Force fields against DFT" == section.title and "Force RMSE per element" in section.body
    assert f"{1e3 * 0.05 / np.sqrt(3):.4f}" in section.body  # the shifted model's RMSE in the table
    # curves, two parity plots (png + svg)
    assert len(page.figures) == 6 and all(path.is_file() for path in page.figures)
    assert force_field_section(page, [], [], []) is None
