"""The dynamic-stability screen (paper §2.5): a structure is dynamically stable when no phonon mode is
imaginary on a q-mesh and the high-symmetry path. It decides which structures get MD, and the force benchmark
asks whether an MLP agrees with DFT on it.

Not every imaginary frequency is an instability. Force constants from a finite supercell that violate the
rotational (Born-Huang) invariance conditions give acoustic branches that dip below zero at small wave vectors,
while a real instability (the zone-boundary soft modes of cubic Na3PS4 and Na3SbS4, which drive their phase
transitions) is an optical or zone-boundary mode. So each imaginary mode is classified:

- an **acoustic artifact near Gamma** when it is on one of the three lowest branches, inside the supercell's
  Brillouin zone around Gamma (q nearer to Gamma than to any other q-point commensurate with the supercell: for
  an N1 x N2 x N3 supercell, reduced |q_i| <= 1/(2 N_i), so 0.25 along an axis repeated twice and 0.5 along one
  not repeated; there the frequencies are interpolated from Gamma alone, which is where too short a supercell
  and broken sum rules show), and its eigenvector is a near-uniform translation: the overlap with the three
  rigid translations (mass-weighted, normalised) is at least ``min_translation_overlap``;
- a **soft mode** otherwise.

A structure is stable when every imaginary mode below ``-tolerance_thz`` is an artifact. An elastic instability
(an imaginary sound velocity) also looks like a translation near Gamma; ``stability_screen`` checks such
structures with the rotational sum rules enforced, and the verdict records the evidence.
"""

from __future__ import annotations

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field

from na_lattice_flows.phonons.sum_rules import rotationally_invariant

STABILITY_TOLERANCE_THZ = 0.1  # a mode below -0.1 THz is imaginary (numerical noise is far smaller)
# The lowest acoustic mode overlaps a rigid translation less as q grows (optical admixture): tetragonal Na3PS4
# (phononDB) 0.98, 0.94, 0.89 at reduced |q| = 0.036, 0.071, 0.107; NaBF4 0.98, 0.93, 0.87, 0.80 at 0.032-0.128.
# An optical mode is orthogonal to the translations at Gamma and stays near 0 close to it (0.05-0.14 for the soft
# modes of NaHf2(PO4)3 and Na2Te2O5).
MIN_TRANSLATION_OVERLAP = 0.7
MESH_LENGTH_A = (
    30.0  # phonopy's length-based q-mesh (about 30 / a points along each reciprocal axis)
)
MAX_CLASSIFIED_QPOINTS = (
    400  # eigenvectors only where modes are imaginary; a bound for a badly unstable structure
)

STABLE, SOFT_MODE, ARTIFACT = "stable", "soft mode", "acoustic artifact near Gamma"


class StabilityVerdict(BaseModel):
    """Whether a structure is dynamically stable, its lowest frequency and where, and why."""

    dynamically_stable: bool
    min_frequency_thz: float = Field(
        description="Lowest frequency anywhere (imaginary modes are negative)"
    )
    min_frequency_qpoint: list[float] = Field(description="Reduced coordinates of the softest mode")
    min_frequency_branch: int | None = Field(
        None, description="Its band index, 0 = lowest (0-2: acoustic near Gamma)"
    )
    min_frequency_translation_overlap: float | None = Field(
        None, description="Its overlap with a rigid translation (0-1)"
    )
    rule: str | None = Field(
        None,
        description="What decided: stable, soft mode, or acoustic artifact near Gamma (then stable)",
    )
    reason: str | None = Field(None, description="The verdict in words, with the deciding mode")
    softest_soft_mode_thz: float | None = Field(
        None, description="Lowest frequency of a mode that is not an artifact"
    )
    softest_soft_mode_qpoint: list[float] | None = None
    n_artifact_qpoints: int = Field(
        0, description="q-points whose only imaginary modes are acoustic artifacts"
    )
    n_soft_mode_qpoints: int = Field(0, description="q-points with a soft mode")
    rotational_sum_rules: bool = Field(
        False, description="Judged on force constants with hiphive's rotational sum rules enforced"
    )
    min_frequency_before_sum_rules_thz: float | None = Field(
        None, description="Lowest frequency before the sum rules, when applied"
    )


def translation_overlap(eigenvectors: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """Overlap of each mode with the rigid translations: sum over x, y, z of |<t_a|e>|^2, with t_a the
    mass-weighted uniform displacement along a (sqrt(m_k / M) on every atom k), for phonopy's eigenvectors
    (columns, (3N, n_modes)); 1 for a translation, ~0 for an optical mode."""
    weights = np.sqrt(np.asarray(masses, float) / np.sum(masses))
    by_atom = eigenvectors.reshape(len(masses), 3, -1)  # (atom, direction, mode)
    projections = np.einsum("k,kam->am", weights, by_atom)  # (direction, mode)
    return np.sum(np.abs(projections) ** 2, axis=0)


def mesh_and_path_frequencies(ph: Phonopy) -> tuple[np.ndarray, np.ndarray]:
    """q-points (reduced) and frequencies (THz) of a Gamma-centred mesh and seekpath's high-symmetry path."""
    ph.run_mesh(MESH_LENGTH_A, is_gamma_center=True)
    qpoints, frequencies = [np.asarray(ph.mesh.qpoints)], [np.asarray(ph.mesh.frequencies)]
    ph.auto_band_structure(npoints=21)
    bands = ph.get_band_structure_dict()
    qpoints += [np.asarray(q) for q in bands["qpoints"]]
    frequencies += [np.asarray(f) for f in bands["frequencies"]]
    return np.concatenate(qpoints), np.concatenate(frequencies)


def in_supercell_gamma_zone(ph: Phonopy, qpoints: np.ndarray) -> np.ndarray:
    """Whether each q (reduced, primitive reciprocal lattice) lies in the Brillouin zone of the supercell's
    reciprocal lattice around Gamma: no q-point commensurate with the supercell other than Gamma is nearer."""
    primitive_reciprocal = np.linalg.inv(ph.primitive.cell).T
    supercell_reciprocal = np.linalg.inv(ph.supercell.cell).T
    cartesian = np.asarray(qpoints, float) @ primitive_reciprocal
    shifts = np.array([n for n in np.ndindex(5, 5, 5) if n != (2, 2, 2)]) - 2
    commensurate = shifts @ supercell_reciprocal  # the nearest commensurate points other than Gamma
    # nearest image of Gamma
    folded = cartesian - np.rint(np.asarray(qpoints, float)) @ primitive_reciprocal
    to_gamma = np.linalg.norm(folded, axis=1)
    to_others = np.linalg.norm(folded[:, None, :] - commensurate[None, :, :], axis=2).min(axis=1)
    return to_gamma <= to_others + 1e-9


def dynamic_stability(
    ph: Phonopy,
    tolerance_thz: float = STABILITY_TOLERANCE_THZ,
    min_translation_overlap: float = MIN_TRANSLATION_OVERLAP,
) -> StabilityVerdict:
    """The verdict on the force constants ``ph`` holds: no soft mode on a q-mesh (Gamma included) and the
    seekpath high-symmetry path; imaginary modes classified as in the module docstring."""
    all_q, all_f = mesh_and_path_frequencies(ph)
    # column k: band k in ascending frequency (0-2 acoustic near Gamma)
    sorted_f = np.sort(all_f, axis=1)
    index = np.unravel_index(np.argmin(sorted_f), sorted_f.shape)
    near_gamma = in_supercell_gamma_zone(ph, all_q)
    imaginary = np.flatnonzero(sorted_f[:, 0] < -tolerance_thz)[:MAX_CLASSIFIED_QPOINTS]
    masses = np.asarray(ph.primitive.masses)
    overlap_of = {}
    if len(imaginary):
        ph.run_qpoints(all_q[imaginary], with_eigenvectors=True)
        for row, frequencies, vectors in zip(
            imaginary, ph.qpoints.frequencies, ph.qpoints.eigenvectors, strict=True
        ):
            overlap_of[row] = translation_overlap(vectors, masses)[np.argsort(frequencies)]
    soft_rows, artifact_rows = [], []
    soft_min, soft_q = None, None
    for row in imaginary:
        bad = np.flatnonzero(sorted_f[row] < -tolerance_thz)
        artifact = near_gamma[row] & (bad < 3) & (overlap_of[row][bad] >= min_translation_overlap)
        if np.all(artifact):
            artifact_rows.append(row)
            continue
        soft_rows.append(row)
        lowest = float(sorted_f[row][bad[~artifact]].min())
        if soft_min is None or lowest < soft_min:
            soft_min, soft_q = lowest, np.round(all_q[row], 6).tolist()
    q_min = np.round(all_q[index[0]], 6).tolist()
    q_norm = float(np.linalg.norm(all_q[index[0]] - np.rint(all_q[index[0]])))
    min_overlap = float(overlap_of[index[0]][index[1]]) if index[0] in overlap_of else None
    if soft_rows:
        rule, reason = SOFT_MODE, f"soft mode: {soft_min:.3f} THz at q = {soft_q}"
    elif artifact_rows:
        rule = ARTIFACT
        reason = (
            f"stable: the only imaginary modes are acoustic artifacts near Gamma (lowest {sorted_f[index]:.3f} THz at "
            f"q = {q_min}, |q| = {q_norm:.3f}, translation overlap {min_overlap:.2f})"
        )
    else:
        rule, reason = (
            STABLE,
            f"stable: no mode below -{tolerance_thz:g} THz (lowest {sorted_f[index]:.3f} THz)",
        )
    return StabilityVerdict(
        dynamically_stable=not soft_rows,
        min_frequency_thz=float(sorted_f[index]),
        min_frequency_qpoint=q_min,
        min_frequency_branch=int(index[1]),
        min_frequency_translation_overlap=min_overlap,
        rule=rule,
        reason=reason,
        softest_soft_mode_thz=soft_min,
        softest_soft_mode_qpoint=soft_q,
        n_artifact_qpoints=len(artifact_rows),
        n_soft_mode_qpoints=len(soft_rows),
    )


def stability_screen(ph: Phonopy, **criteria) -> tuple[StabilityVerdict, Phonopy]:
    """The verdict and the force constants it was made on. Where the only imaginary modes are acoustic
    artifacts near Gamma, the rotational sum rules are enforced (``sum_rules.rotationally_invariant``): when they
    leave no imaginary mode, the structure is judged on the corrected force constants (returned); when they do not
    give a clean spectrum (the supercell holds too short a cutoff), the fitted ones and the artifact rule stand,
    and the reason says so. Other structures are judged as fitted, at no extra cost."""
    verdict = dynamic_stability(ph, **criteria)
    if verdict.rule != ARTIFACT:
        return verdict, ph
    try:
        corrected = rotationally_invariant(ph)
    except (
        ValueError
    ) as error:  # hiphive cannot build the cluster space of some cells (an orbit's atom not found)
        verdict.reason += f"; the rotational sum rules could not be enforced (hiphive: {error}), so the fitted force constants are kept"
        return verdict, ph
    after = dynamic_stability(corrected, **criteria)
    dip = f"{verdict.min_frequency_thz:.3f} THz at q = {verdict.min_frequency_qpoint}"
    if after.rule == STABLE:
        after.rotational_sum_rules = True
        after.min_frequency_before_sum_rules_thz = verdict.min_frequency_thz
        after.reason = f"stable: the acoustic dip near Gamma ({dip}) is gone with the rotational sum rules enforced"
        return after, corrected
    verdict.reason += (
        f"; with the rotational sum rules the lowest mode is {after.min_frequency_thz:.3f} THz at q = "
        f"{after.min_frequency_qpoint}, so the fitted force constants are kept"
    )
    return verdict, ph


def record_verdict(descriptors, verdict: StabilityVerdict) -> None:
    """Copy the verdict's summary into a ``PhononDescriptors`` (what the screening record and results show)."""
    descriptors.dynamically_stable = verdict.dynamically_stable
    descriptors.min_frequency_thz = verdict.min_frequency_thz
    descriptors.stability_rule = verdict.rule
    descriptors.stability_reason = verdict.reason
