"""Batched phonon forces: the batching (which structures share a model call) against a brute-force reading, the
forces of a batched torch-sim call against ASE's own Lennard-Jones evaluated structure by structure, and the
batched job against the per-structure job with the same MLP: the same force constants, and a structure that
fails named while the others finish."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from pymatgen.core import Lattice, Structure

from na_lattice_flows.phonons.batched_forces import batched_forces, step_calls
from na_lattice_flows.phonons.batched_jobs import BatchedPhononMaker, mlp_phonons_batch
from na_lattice_flows.phonons.jobs import MLPPhononMaker, mlp_phonons
from na_lattice_flows.routing import GPU, job_category

SIGMA_A, EPSILON_EV, CUTOFF_A = 3.4, 0.0104, 7.0


@pytest.mark.parametrize("limit", [None, 1, 40, 100, 1000])
def test_each_call_of_a_step_is_consecutive_structures_within_the_atom_limit(limit):
    sizes = [30, 12, 54, 8, 8, 120, 2]
    calls = step_calls(sizes, limit)
    # each structure once, in order
    assert [index for call in calls for index in call] == list(range(len(sizes)))
    for call in calls:
        n_atoms = sum(sizes[index] for index in call)
        assert limit is None or n_atoms <= limit or len(call) == 1  # an oversized structure alone
    for first, second in pairwise(calls):  # a call closes only when the next structure does not fit
        assert limit is not None and sum(sizes[index] for index in first) + sizes[second[0]] > limit
    assert step_calls([], limit) == []


def rattled_supercells(atoms, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(n):
        cell = atoms.copy()
        cell.positions += rng.normal(0, 0.05, cell.positions.shape)
        cells.append(cell)
    return cells


@pytest.mark.parametrize("max_atoms_per_call", [None, 60])
def test_batched_forces_equal_ases_lennard_jones_structure_by_structure(max_atoms_per_call):
    from torch_sim.models.lennard_jones import LennardJonesModel

    sets = [
        rattled_supercells(bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2), 3, 0),  # 32 atoms
        # 27 atoms, fewer supercells than the others
        rattled_supercells(bulk("Ar", "bcc", a=4.2).repeat(3), 2, 1),
        rattled_supercells(bulk("Ar", "sc", a=3.7).repeat((4, 4, 3)), 3, 2),  # 48 atoms
    ]
    model = LennardJonesModel(sigma=SIGMA_A, epsilon=EPSILON_EV, cutoff=CUTOFF_A)
    forces = batched_forces(sets, model, max_atoms_per_call=max_atoms_per_call)
    # truncated, as torch-sim's: same forces
    calculator = LennardJones(sigma=SIGMA_A, epsilon=EPSILON_EV, rc=CUTOFF_A)
    for cells, found in zip(sets, forces, strict=True):
        expected = []
        for cell in cells:
            cell.calc = calculator
            expected.append(cell.get_forces())
        assert found.shape == (len(cells), len(cells[0]), 3)
        np.testing.assert_allclose(found, expected, rtol=0, atol=1e-9)
        assert np.abs(found).max() > 1e-2  # forces worth comparing


def test_the_batched_job_gives_the_per_structure_force_constants_and_names_what_fails():
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    na2s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.54), ["S", "Na"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    # disordered
    mixed = Structure(
        Lattice.cubic(5.64), [{"Na": 0.5, "K": 0.5}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    settings = {
        "model": "7net-0",
        "n_supercells": 2,
        "amplitude_A": 0.03,
        "seed": 3,
        "fc_method": "symfc",
        "temperature_K": 800.0,
        "low_freq_cutoff_thz": 0.5,
        "min_supercell_atoms": 60,
    }
    # Cl off its site: forces on the undisplaced supercell, which both paths take off
    off_site = nacl.get_primitive_structure()
    off_site.translate_sites([1], [0.004, 0.0, 0.0])
    structures, ids = (
        [nacl.get_primitive_structure(), mixed, na2s.get_primitive_structure(), off_site],
        ["NaCl", "mixed", "Na2S", "NaCl off-site"],
    )
    batch = mlp_phonons_batch.original(structures, ids, **settings, max_atoms_per_call=None)
    # named; the others go on
    assert batch.documents[1] is None and batch.errors[1].startswith("mixed: ")
    for index in (0, 2, 3):
        single = mlp_phonons.original(structures[index], ids[index], **settings)
        batched = batch.documents[index]
        assert batch.errors[index] is None and batched.supercell_matrix == single.supercell_matrix
        expected = np.asarray(single.force_constants)
        difference = np.abs(np.asarray(batched.force_constants) - expected).max()
        # float32 model: the same to its precision
        assert difference < 1e-4 * np.abs(expected).max(), difference
        # (off-site: a float32 residual taken off float32 forces, 1.3e-4 on one machine, 3.8e-4 on another;
        # without the batched subtraction 1.1e-2)
        assert batched.descriptors.msd_na_avg_A2 == pytest.approx(
            single.descriptors.msd_na_avg_A2, rel=1e-3
        )
        assert batched.stability.dynamically_stable == single.stability.dynamically_stable


def test_the_batched_maker_needs_a_torch_sim_model_and_runs_on_gpu_workers():
    with pytest.raises(
        ValueError, match="model 'chgnet' \\(chgnet\\): batched phonons need a torch-sim model"
    ):
        BatchedPhononMaker(phonons=MLPPhononMaker(model="chgnet"))
    with pytest.raises(ValueError, match="second order only"):
        BatchedPhononMaker(phonons=MLPPhononMaker(model="7net-0", third_order_method="symfc"))
    structure = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    job = BatchedPhononMaker().make([structure, structure], ["a", "b"])
    assert job_category(job) == GPU and job.name == "batched mlp phonons (2 structures)"
    with pytest.raises(ValueError, match="2 structures but 1 candidate ids"):
        BatchedPhononMaker().make([structure, structure], ["a"])
