"""Rotational invariance of second-order force constants, by hiphive: the force constants are written in a
second-order cluster space of the primitive cell (every symmetry-distinct pair up to the longest cutoff the
supercell holds), the parameters are projected onto the rotational sum rules (Huang and Born-Huang: a rigid
rotation costs no energy and the elastic tensor has its symmetry) by ``enforce_rotational_sum_rules``, and the
force constants are rebuilt on the supercell; phonopy then imposes the translational sum rule again.

Force constants fitted in a finite supercell break these rules, and the acoustic branches show it as imaginary
frequencies at small wave vectors. Much of the break sits in the pairs near the supercell's boundary, which
phonopy shares among periodic images and which the cluster space leaves out (beyond its cutoff): dropping them
is part of the cure, and the reason the rest of the spectrum moves a little (tetragonal Na3PS4, 2x2x2: the dip
of -0.21 THz goes, other frequencies move by 0.08 THz rms).
"""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np
from phonopy import Phonopy
from phonopy.harmonic.force_constants import compact_fc_to_full_fc, full_fc_to_compact_fc

from na_lattice_flows.phonons.references import ase_atoms

SUM_RULES = ("Huang", "Born-Huang")


def rotationally_invariant(ph: Phonopy, cutoff_A: float | None = None) -> Phonopy:
    """A copy of ``ph`` whose force constants satisfy the rotational sum rules (``SUM_RULES``) and the
    translational one. ``cutoff_A``: the pair cutoff of the cluster space, default the longest the supercell
    holds (hiphive's ``estimate_maximum_cutoff``)."""
    from hiphive import (
        ClusterSpace,
        ForceConstantPotential,
        ForceConstants,
        enforce_rotational_sum_rules,
    )
    from hiphive.cutoffs import estimate_maximum_cutoff
    from hiphive.utilities import extract_parameters

    supercell, primitive = ase_atoms(ph.supercell), ase_atoms(ph.primitive)
    fc = np.asarray(ph.force_constants)
    compact = fc.shape[0] != fc.shape[1]
    full = compact_fc_to_full_fc(ph.primitive, fc) if compact else fc
    cutoff = cutoff_A or 0.999 * estimate_maximum_cutoff(supercell)
    # its cluster-space tables are not for our users
    logging.getLogger("hiphive").setLevel(logging.WARNING)
    space = ClusterSpace(primitive, [cutoff])
    parameters = extract_parameters(
        ForceConstants.from_arrays(supercell, fc2_array=full), space, sanity_check=False
    )
    with contextlib.redirect_stdout(io.StringIO()):  # hiphive prints the residual norms
        constrained = enforce_rotational_sum_rules(space, parameters, list(SUM_RULES))
    invariant = (
        ForceConstantPotential(space, constrained)
        .get_force_constants(supercell)
        .get_fc_array(order=2)
    )
    corrected = ph.copy()
    corrected.force_constants = (
        full_fc_to_compact_fc(ph.primitive, invariant) if compact else invariant
    )
    corrected.symmetrize_force_constants()
    return corrected
