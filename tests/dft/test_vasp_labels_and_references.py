"""VASP as the labeller of training frames and as the source of DFT phonon references, replayed on recorded runs
(../shared/data/vasp_reference): the inputs written (functional, tight settings, the frame or displaced supercell
itself), and the recorded outputs read back as ASE's own VASP reader reads them."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from ase.io import read
from jobflow import JobStore, run_locally
from maggma.stores import MemoryStore
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.dft.vasp_jobs import TIGHT_STATIC_INCAR

pytestmark = pytest.mark.shared_data


def recorded(vasp_reference, run: str, tmp_path):
    """The recorded run's input structure, and its last ionic step as ASE reads the vasprun.xml."""
    with gzip.open(vasp_reference / run / "inputs" / "POSCAR.gz", "rt") as handle:
        structure = Structure.from_str(handle.read(), fmt="poscar")
    plain = tmp_path / f"{run.replace('/', '_')}_vasprun.xml"
    with (
        gzip.open(vasp_reference / run / "outputs" / "vasprun.xml.gz", "rb") as source,
        plain.open("wb") as target,
    ):
        shutil.copyfileobj(source, target)
    return structure, read(plain, index=-1)


def run_in_store(flow, tmp_path):
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    run_locally(
        flow, store=store, create_folders=True, ensure_success=True, root_dir=tmp_path / "runs"
    )
    return store


def test_vasp_labels_are_the_recorded_statics_in_ases_convention_with_the_frames_provenance(
    mock_vasp, vasp_reference, tmp_path
):
    from na_lattice_flows.training.dataset import from_extxyz, to_extxyz
    from na_lattice_flows.training.vasp_labels import VASP_LABEL_JOB_NAME, vasp_label_frames

    register, written = mock_vasp
    structure, ase_static = recorded(vasp_reference, "si_static", tmp_path)
    frames = []
    for index in range(2):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info.update(
            configuration=f"si{index}",
            run=f"si{index}@300K",
            temperature_K=300.0,
            frame_index=index,
        )
        frames.append(atoms)
    names = [f"{VASP_LABEL_JOB_NAME} {i}/2" for i in (1, 2)]
    register(
        {name: "si_static" for name in names},
        {name: {"check_inputs": ["poscar", "potcar"]} for name in names},
    )
    labelling = vasp_label_frames({"extxyz": to_extxyz(frames)}, "r2SCAN", {}, 100)
    store = run_in_store(labelling, tmp_path)

    for name in names:  # r2SCAN and the tight static settings, whatever atomate2's base set says
        incar = written[name]["INCAR"]
        assert (
            incar["METAGGA"].lower() == "r2scan" and "GGA" not in incar and incar["LASPH"] is True
        )
        assert {key: incar[key] for key in ("ENCUT", "EDIFF", "PREC")} == {
            key: TIGHT_STATIC_INCAR[key] for key in ("ENCUT", "EDIFF", "PREC")
        }
    from jobflow import OutputReference

    replaced = store.query_one({"uuid": labelling.uuid}, sort={"index": -1}, load=True)[
        "output"
    ]  # -> the collection's
    output = OutputReference.from_dict(replaced).resolve(store)
    labelled = from_extxyz(output["extxyz"])
    assert output["n_frames"] == 2 and output["n_failed"] == 0
    for index, atoms in enumerate(labelled):
        assert (
            atoms.info["configuration"] == f"si{index}" and atoms.info["labeller"] == "vasp r2SCAN"
        )
        assert atoms.get_potential_energy() == pytest.approx(
            ase_static.get_potential_energy(), abs=1e-5
        )
        np.testing.assert_allclose(atoms.get_forces(), ase_static.get_forces(), atol=1e-8)
        # sign and units: ASE's
        np.testing.assert_allclose(atoms.get_stress(), ase_static.get_stress(), atol=1e-8)
    # 0.07 kbar: 4000x the tolerance, so a sign error shows
    assert np.abs(ase_static.get_stress()[:3]).min() > 1e-5


def test_a_failed_static_leaves_its_frame_out_and_keeps_the_others():
    from na_lattice_flows.training.dataset import from_extxyz, to_extxyz
    from na_lattice_flows.training.vasp_labels import collect_vasp_labels

    frames = [
        AseAtomsAdaptor.get_atoms(
            Structure.from_spacegroup(
                "Fd-3m", [[5.47, 0, 0], [0, 5.47, 0], [0, 0, 5.47]], ["Si"], [[0, 0, 0]]
            )
        )
        for _ in range(2)
    ]
    forces = np.full((len(frames[0]), 3), 0.01)
    good = {"energy": -43.0, "forces": forces.tolist(), "stress": np.eye(3).tolist()}
    output = collect_vasp_labels.original(to_extxyz(frames), [None, good], "vasp PBE")
    (kept,) = from_extxyz(output["extxyz"])
    assert output["n_failed"] == 1 and kept.get_potential_energy() == -43.0
    # 1 kbar compressive
    np.testing.assert_allclose(kept.get_stress()[:3], -0.1 * 1.0 / 160.21766208 * np.ones(3))


def test_vasp_phonon_reference_uses_the_seeded_supercells_and_the_recorded_forces(
    mock_vasp, vasp_reference, tmp_path
):
    from na_lattice_flows.benchmark.jobs import VaspReferenceMaker
    from na_lattice_flows.phonons.references import DisplacementReference, random_displacements

    register, written = mock_vasp
    structure, ase_static = recorded(vasp_reference, "nacl_phonon/phonon_static_1_2", tmp_path)
    # the recorded 8-atom cell (one displaced atom: symmetry low)
    structure = Structure.from_sites(structure.sites)
    maker = VaspReferenceMaker(
        n_supercells=2, supercell_matrix=np.eye(3, dtype=int).tolist(), functional="PBEsol"
    )
    names = [f"{maker.name} nacl {i}/2" for i in (1, 2)]
    register(
        {name: "nacl_phonon/phonon_static_1_2" for name in names},
        {name: {"check_inputs": ["potcar"]} for name in names},
    )
    flow = maker.make(structure, "nacl")
    store = run_in_store(flow, tmp_path)

    expected = random_displacements(structure, maker.supercell_matrix, 2, 0.03, 0)
    for name, supercell in zip(names, expected.supercells_with_displacements, strict=True):
        poscar = written[name][
            "POSCAR"
        ]  # VASP was given phonopy's seeded supercell, in phonopy's atom order
        np.testing.assert_allclose(poscar.cart_coords, supercell.positions, atol=1e-6)
        assert (
            written[name]["INCAR"]["GGA"].upper() == "PS"
            and written[name]["INCAR"]["EDIFF"] == 1e-7
        )
    document = store.query_one({"uuid": flow.jobs[-1].uuid}, load=True)["output"]
    reference = DisplacementReference.model_validate(document)
    assert reference.is_random_displacement and "VASP" in reference.source
    np.testing.assert_allclose(reference.forces, [ase_static.get_forces()] * 2, atol=1e-8)
    displacements = np.asarray(reference.dataset["displacements"])
    np.testing.assert_allclose(np.linalg.norm(displacements, axis=-1), 0.03, atol=1e-9)
