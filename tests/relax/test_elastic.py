"""Elastic moduli in the screening flow, against the same MLP's energy: for cubic rock salt the bulk modulus is
V d2E/dV2 and C11 - C12 the curvature of the energy under a volume-keeping (e, -e, 0) strain, both by finite
differences of energies alone (the elastic flow fits stresses)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.units import GPa
from jobflow import run_locally
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.candidates.loaders import Candidate
from na_lattice_flows.models import get_calculator
from na_lattice_flows.relax.jobs import MLPRelaxMaker, mlp_elastic_maker
from na_lattice_flows.routing import GPU, job_category
from na_lattice_flows.workflow.screening import ScreeningFlowMaker

MODEL = "7net-0"  # smooth cutoff: its stresses are the strain derivative of its energy to < 1 % (CHGNet's: ~6 %)


def energy(atoms, strain: np.ndarray) -> float:
    strained = atoms.copy()
    strained.set_cell(atoms.cell @ (np.eye(3) + strain), scale_atoms=True)
    strained.calc = atoms.calc
    return strained.get_potential_energy()


def test_elastic_moduli_of_rock_salt_match_the_energy_curvature(tmp_path):
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()
    maker = ScreeningFlowMaker(
        relax_maker=MLPRelaxMaker(model=MODEL),
        phonon_maker=None,
        md_maker=None,
        elastic_maker=mlp_elastic_maker(MODEL),
    )
    flow = maker.make(Candidate(candidate_id="NaCl", structure=nacl, source="test"))
    assert any(
        job_category(job) == GPU
        for job in flow.jobs[1].jobs
        if job.name == "run_elastic_deformations"
    )
    responses = run_locally(flow, ensure_success=True, create_folders=True, root_dir=tmp_path)
    outputs = [response[1].output for response in responses.values()]
    summary = next(o for o in outputs if hasattr(o, "candidate_id"))
    tensor = next(o for o in outputs if hasattr(o, "elastic_tensor"))
    c = np.asarray(tensor.elastic_tensor.ieee_format)

    atoms = AseAtomsAdaptor.get_atoms(tensor.structure)
    atoms.calc = get_calculator(MODEL)
    volume, h = atoms.get_volume(), 0.003
    # bulk modulus: E(eta) for isotropic strain eta, V = V0 (1 + eta)^3, K = d2E/deta2 / (9 V0)
    e_iso = [energy(atoms, np.eye(3) * eta) for eta in (-h, 0.0, h)]
    bulk = (e_iso[0] - 2 * e_iso[1] + e_iso[2]) / h**2 / (9 * volume) / GPa
    # E = V0 (C11 - C12) e^2 for the strain diag(e, -e, 0)
    e_shear = [energy(atoms, np.diag([e, -e, 0.0])) for e in (-h, 0.0, h)]
    c11_minus_c12 = (e_shear[0] - 2 * e_shear[1] + e_shear[2]) / (2 * h**2) / volume / GPa
    assert (c[0, 0] + 2 * c[0, 1]) / 3 == pytest.approx(bulk, rel=0.02)
    assert c[0, 0] - c[0, 1] == pytest.approx(c11_minus_c12, rel=0.03)
    # cubic: Voigt = Reuss
    assert summary.elastic.bulk_modulus_vrh_GPa == pytest.approx(
        (c[0, 0] + 2 * c[0, 1]) / 3, rel=1e-6
    )
    assert 0 < summary.elastic.shear_modulus_vrh_GPa < summary.elastic.bulk_modulus_vrh_GPa
    assert summary.provenance.elastic_model == MODEL
