"""The relaxation's optimizer is a choice (`--relax-optimizer`): BFGS reaches FIRE's minimum, and choosing
atomate2's FIRE explicitly leaves the settings fingerprint of earlier campaigns as it was."""

from __future__ import annotations

import numpy as np
import pytest
from jobflow import run_locally
from pymatgen.core import Lattice, Structure

from na_lattice_flows.api import screening_maker
from na_lattice_flows.candidates.fingerprints import settings_fingerprint


def strained_rock_salt() -> Structure:
    """NaCl 3 % off its lattice constant (the space group is kept: the cell relaxes)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64 * 1.03), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_bfgs_relaxes_to_fires_minimum_and_fire_keeps_the_old_fingerprint():
    assert settings_fingerprint(screening_maker(relax_optimizer="FIRE")) == settings_fingerprint(
        screening_maker()
    )
    results = {}
    for optimizer in ("FIRE", "BFGS"):
        maker = screening_maker(model="chgnet", relax_optimizer=optimizer, fmax=0.005).relax_maker
        job = maker.make(strained_rock_salt())
        output = run_locally(job, ensure_success=True)[job.uuid][1].output
        results[optimizer] = (output.output.energy / len(output.structure), output.structure)
    (e_fire, fire), (e_bfgs, bfgs) = results["FIRE"], results["BFGS"]
    assert e_bfgs == pytest.approx(e_fire, abs=2e-5)  # eV/atom
    assert np.allclose(bfgs.lattice.abc, fire.lattice.abc, atol=2e-3)
    assert abs(fire.lattice.a - 5.64 * 1.03) > 0.02  # it did relax
