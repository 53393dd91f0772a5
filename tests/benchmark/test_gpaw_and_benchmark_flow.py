"""GPAW as the local DFT engine (forces are the derivative of its energy), and the benchmark as a flow on the
embedded store: a GPAW random-displacement reference and a phononDB archive, one job per structure and model,
a broken reference that does not stop the ranking, and the evidence in the store."""

from __future__ import annotations

import numpy as np
import pytest
from jobflow import Flow, run_locally
from pymatgen.core import Lattice, Structure

gpaw = pytest.importorskip(
    "gpaw",
    reason="GPAW is not installed (scripts/setup_env.sh builds it where libxc/OpenBLAS/FFTW can be installed)",
)

# noqa: E402
from na_lattice_flows.benchmark.jobs import (
    RANKING_JOB_NAME,
    ForceBenchmarkMaker,
    GPAWReferenceMaker,
)
from na_lattice_flows.dft.gpaw import GPAWSettings, gpaw_calculator  # noqa: E402
from na_lattice_flows.execution.stores import get_job_store  # noqa: E402

TINY = GPAWSettings(
    ecut_eV=250, kpts=(2, 2, 2), energy_convergence_eV=1e-8, density_convergence=1e-7
)
# F = -dE/dx at any k-mesh
GAMMA = GPAWSettings(
    ecut_eV=250, kpts=(1, 1, 1), energy_convergence_eV=1e-8, density_convergence=1e-7
)


def nacl_primitive() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.65), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()


def test_gpaw_forces_are_minus_the_energy_gradient():
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(nacl_primitive())
    atoms.positions[0] += [0.06, 0.02, -0.03]
    atoms.calc = gpaw_calculator(GAMMA)
    forces = atoms.get_forces()
    # no net force on a periodic crystal
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=2e-3)
    step = 0.01
    energies = []
    for sign in (1, -1):
        displaced = atoms.copy()
        displaced.positions[0, 0] += sign * step
        displaced.calc = gpaw_calculator(GAMMA)
        energies.append(displaced.get_potential_energy())
    assert abs(forces[0, 0]) > 0.03
    assert forces[0, 0] == pytest.approx(-(energies[0] - energies[1]) / (2 * step), abs=5e-4)


@pytest.mark.slow  # 19 s; GPAW forces are checked in the default run by the energy-gradient test above
def test_benchmark_flow_with_a_gpaw_reference(phonondb_dev, embedded_settings, tmp_path):
    reference_job = GPAWReferenceMaker(
        n_supercells=2,
        amplitude_A=0.03,
        seed=7,
        supercell_matrix=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        settings=TINY,
    ).make(nacl_primitive(), "NaCl-gpaw")
    archive = str(phonondb_dev / "mp-22862.tar.lzma")
    benchmark = ForceBenchmarkMaker(models=("chgnet",)).make(
        [archive, str(tmp_path / "missing.tar.lzma"), reference_job.output]
    )
    assert len(benchmark.jobs) == 4  # one job per structure and model, then the ranking

    store = get_job_store(embedded_settings)
    run_locally(
        Flow([reference_job, benchmark]),
        store=store,
        create_folders=True,
        root_dir=tmp_path / "runs",
    )

    store.connect()
    reference = store.get_output(reference_job.uuid, load=True)
    displacements = np.asarray(reference["dataset"]["displacements"])
    # every atom, 0.03 A
    np.testing.assert_allclose(np.linalg.norm(displacements, axis=-1), 0.03, rtol=1e-6)
    forces = np.asarray(reference["dataset"]["forces"])
    np.testing.assert_allclose(forces.sum(axis=1), 0.0, atol=5e-3)

    ranking = store.query_one({"name": RANKING_JOB_NAME}, load=True)["output"]
    assert ranking["chosen_model"] == "chgnet"
    assert {row["structure"] for row in ranking["per_structure"]} == {
        "mp-22862",
        "NaCl-gpaw",
    }  # the missing one left out
    assert ranking["models"]["chgnet"]["n_structures"] == 2
    evaluation = store.query_one({"name": {"$regex": "^forces chgnet mp-22862"}})
    # arrays in the data store, not the document
    assert "blob_uuid" in evaluation["output"]["mlp_forces"]
