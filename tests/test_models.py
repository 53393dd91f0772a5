"""The MLP registry: names, one load per process, clear errors, and fairchem's real loading code on a tiny
eSCN-MD (UMA architecture) checkpoint with random weights that the test builds."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from na_lattice_flows.models import (
    ModelUnavailableError,
    UnknownModelError,
    get_calculator,
    resolve_model,
)


def rattled_nacl():
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (2, 2, 2)
    atoms.rattle(0.05, seed=3)
    return atoms


def test_names_resolve_case_insensitively_and_unknown_names_list_the_choices(tmp_path):
    assert resolve_model("CHGNet").family == "chgnet"
    assert resolve_model("7NET-0").variant == "7net-0"
    assert resolve_model("uma").variant == "uma-s-1p1"
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"")
    assert resolve_model(str(checkpoint)).family == "fairchem"
    assert resolve_model(f"mace:{checkpoint}").variant == str(checkpoint)
    with pytest.raises(UnknownModelError, match="no such checkpoint file /models/my.model"):
        resolve_model("mace:/models/my.model")  # refused when submitted, not when a worker loads it
    # a name of the family, not a file
    assert resolve_model("fairchem:uma-m-1p1").variant == "uma-m-1p1"
    with pytest.raises(UnknownModelError, match="unknown model 'gap20'.*7net-0.*chgnet"):
        resolve_model("gap20")


def test_trained_model_files_resolve_and_carry_their_provenance(tmp_path):
    """allegro:/nequip: packages and sevennet: checkpoints are registry names; a missing file is refused at
    submission; the provenance beside a file trained here is returned, pretrained models and labels have none."""
    from na_lattice_flows.models import PROVENANCE_SUFFIX, model_provenance

    package = tmp_path / "model.nequip.zip"
    package.write_bytes(b"")
    assert (
        resolve_model(f"allegro:{package}").family == "allegro"
        and resolve_model(f"nequip:{package}").family == "nequip"
    )
    with pytest.raises(UnknownModelError, match="no such checkpoint file"):
        resolve_model(f"allegro:{tmp_path / 'absent.nequip.zip'}")
    assert model_provenance(f"allegro:{package}") is None  # no sidecar: not trained here
    (tmp_path / ("model.nequip.zip" + PROVENANCE_SUFFIX)).write_text(
        '{"route": "allegro", "dataset": "d"}'
    )
    assert model_provenance(f"allegro:{package}") == {"route": "allegro", "dataset": "d"}
    assert model_provenance("7net-0") is None and model_provenance("a label, not a model") is None


@pytest.mark.parametrize("name", ["chgnet", "7net-0", "7net-l3i5"])
def test_packaged_models_load_once_and_obey_newtons_third_law(name):
    calculator = get_calculator(name)
    assert get_calculator(name) is calculator  # loaded once per process
    atoms = rattled_nacl()
    atoms.calc = calculator
    forces = atoms.get_forces()
    assert forces.shape == (len(atoms), 3)
    assert np.abs(forces).max() > 0.05  # a rattled crystal feels forces
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-3)  # and they sum to zero
    assert -5.0 < atoms.get_potential_energy() / len(atoms) < -2.0


def test_the_multi_fidelity_heads_load_and_differ():
    """SevenNet-MF-0's PBE and r2SCAN heads are two models: same architecture, different outputs (r2SCAN binds more
    strongly and sits on another energy reference), both obeying Newton's third law."""
    atoms = rattled_nacl()
    results = {}
    for name in ("7net-mf-0", "7net-mf-0:r2scan"):
        assert resolve_model(name).head == ("PBE" if name == "7net-mf-0" else "R2SCAN")
        atoms.calc = get_calculator(name)
        results[name] = atoms.get_potential_energy() / len(atoms), atoms.get_forces().copy()
        np.testing.assert_allclose(results[name][1].sum(axis=0), 0.0, atol=1e-3)
    (e_pbe, f_pbe), (e_scan, f_scan) = results["7net-mf-0"], results["7net-mf-0:r2scan"]
    assert abs(e_pbe - e_scan) > 0.5  # eV/atom: different energy references
    assert np.abs(f_pbe - f_scan).max() > 0.005  # and different forces
    assert np.corrcoef(f_pbe.ravel(), f_scan.ravel())[0, 1] > 0.9  # on the same physics


@pytest.mark.parametrize("name,version", [("chgnet-0.2.0", "0.2.0"), ("chgnet-r2scan", "r2scan")])
def test_packaged_chgnet_versions_load_their_own_weights(name, version):
    atoms = rattled_nacl()
    atoms.calc = get_calculator("chgnet")
    default = atoms.get_forces().copy()
    atoms.calc = get_calculator(name)
    assert resolve_model(name).variant == version
    # not the 0.3.0 weights under another name
    assert np.abs(atoms.get_forces() - default).max() > 1e-3


def test_a_chgnet_file_loads_and_a_missing_one_says_how_to_rebuild(tmp_path):
    import torch
    from chgnet.model import CHGNet

    path = tmp_path / "model.pth.tar"
    torch.save({"model": CHGNet.load(verbose=False).as_dict()}, path)
    atoms = rattled_nacl()
    atoms.calc = get_calculator(f"chgnet:{path}")
    reference = rattled_nacl()
    reference.calc = get_calculator("chgnet")
    # the same weights, from the file
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), atol=1e-5)
    from na_lattice_flows import models

    with pytest.raises(ModelUnavailableError, match="na-flows train phonondb"):
        models._load_chgnet(
            models.ModelSpec("chgnet-na", "chgnet", str(tmp_path / "absent.pth.tar")), "cpu"
        )


@pytest.mark.parametrize(
    "name,hint",
    [
        ("mace-mp-0", "e3nn"),
        ("mattersim", "pip install mattersim"),
        ("orb-v3", "pip install orb-models"),
    ],
)
def test_missing_model_families_say_how_to_get_them(name, hint):
    try:
        get_calculator(name)
    except ModelUnavailableError as exc:
        assert hint in str(exc)
    else:
        pytest.skip(f"{name} is installed and its weights are present here")


def test_uma_by_name_without_weights_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    # no network: fail at once
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        ModelUnavailableError, match="gated on the Hugging Face hub.*fairchem:/path/to/uma-s-1p1.pt"
    ):
        get_calculator("uma")


@pytest.mark.slow  # 24 s; UMA fine-tuning (slow) loads the same tiny checkpoint; kept out of the default run for time
def test_fairchem_checkpoint_loads_and_predicts_conservative_forces(tiny_fairchem_checkpoint):
    checkpoint = tiny_fairchem_checkpoint
    calculator = get_calculator(f"fairchem:{checkpoint}", device="cpu")
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (2, 1, 1)
    atoms.rattle(0.05, seed=1)
    atoms.calc = calculator
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    assert np.isfinite(energy) and forces.shape == (len(atoms), 3) and stress.shape == (6,)
    assert np.abs(forces).max() > 0.01
    # forces are -dE/dx of the same model (autograd head): check atom 0 by central differences
    step = 2e-3
    finite_difference = []
    for axis in range(3):
        energies = []
        for sign in (1, -1):
            displaced = atoms.copy()
            displaced.positions[0, axis] += sign * step
            displaced.calc = calculator
            energies.append(displaced.get_potential_energy())
        finite_difference.append(-(energies[0] - energies[1]) / (2 * step))
    np.testing.assert_allclose(
        finite_difference, forces[0], rtol=0.03, atol=0.03 * np.abs(forces[0]).max()
    )


def test_relax_maker_runs_any_registry_model_and_rejects_unknown_names(tmp_path):
    from jobflow import run_locally
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from na_lattice_flows.relax.jobs import MLPRelaxMaker

    with pytest.raises(UnknownModelError):
        MLPRelaxMaker(model="not-a-model")
    start = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.5), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()
    relax = MLPRelaxMaker(model="7NET-0", relax_kwargs={"fmax": 0.005}).make(start)
    output = run_locally(relax, ensure_success=True, create_folders=True, root_dir=tmp_path)[
        relax.uuid
    ][1].output
    assert MLPRelaxMaker(model="7NET-0").model == "7net-0"
    # a minimum of SevenNet itself (not of the default CHGNet): stress and forces vanish with 7net-0
    atoms = AseAtomsAdaptor.get_atoms(output.output.structure)
    atoms.calc = get_calculator("7net-0")
    assert np.abs(atoms.get_stress()[:3]).max() < 2e-3
    assert output.output.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-4)


def test_relaxation_keeps_the_space_group_that_phonopy_sees(tmp_path):
    """Noise of 3 mA on rock salt: the default relaxation snaps it back to Fm-3m at phonopy's tolerance (1e-5);
    a free relaxation (fix_symmetry=False) leaves a lower symmetry behind."""
    from jobflow import run_locally
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from na_lattice_flows.relax.jobs import MLPRelaxMaker

    start = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    start.perturb(0.003, min_distance=0.001)
    space_groups = {}
    for fix_symmetry in (True, False):
        relax = MLPRelaxMaker(fix_symmetry=fix_symmetry, relax_kwargs={"fmax": 0.005}).make(start)
        output = run_locally(relax, ensure_success=True, create_folders=True, root_dir=tmp_path)[
            relax.uuid
        ][1].output
        space_groups[fix_symmetry] = SpacegroupAnalyzer(
            output.output.structure, symprec=1e-5
        ).get_space_group_symbol()
    assert (
        space_groups == {True: "Fm-3m", False: space_groups[False]}
        and space_groups[False] != "Fm-3m"
    )


def test_torchsim_model_gives_the_ase_calculators_energies_and_forces():
    import torch
    import torch_sim as ts

    from na_lattice_flows.models import get_torchsim_model

    model = get_torchsim_model("7net-0", device="cpu")
    assert get_torchsim_model("7net-0", device="cpu") is model
    structures = [rattled_nacl(), bulk("NaF", "rocksalt", a=4.63) * (2, 2, 2)]
    state = ts.io.atoms_to_state(structures, device=torch.device("cpu"), dtype=torch.float32)
    output = model(state)
    forces = output["forces"].detach().numpy()
    # a batch of two structures, each as the ASE path computes it
    for index, atoms in enumerate(structures):
        atoms.calc = get_calculator("7net-0", device="cpu")
        assert float(output["energy"][index]) == pytest.approx(
            atoms.get_potential_energy(), abs=1e-3
        )
        np.testing.assert_allclose(
            forces[state.system_idx.numpy() == index], atoms.get_forces(), atol=1e-3
        )
    with pytest.raises(ModelUnavailableError, match="no torch-sim model wrapper"):
        get_torchsim_model("chgnet", device="cpu")
