"""A committee of force fields on one structure's stability: where its members disagree, the structure is
"disputed", and those are the structures to send to DFT phonons first.

Each member's forces come on the same random-displacement supercells of the same relaxed cell (the screen's
model relaxed it); a member feels residual forces there, since its own equilibrium differs, and those forces on
the undisplaced supercell are subtracted before its fit (as in the force benchmark), so that the members differ
in curvature, not in where they put the minimum.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from na_lattice_flows.errors import InputError
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
from na_lattice_flows.phonons.stability import stability_screen

DEFAULT_MARGIN_THZ = (
    0.5  # lowest frequencies further apart than this are a dispute even when the verdicts agree
)


class CommitteeMember(BaseModel):
    """One committee model's stability verdict."""

    model: str
    dynamically_stable: bool
    min_frequency_thz: float = Field(description="Lowest frequency anywhere (imaginary: negative)")
    reason: str | None = None


class CommitteeVerdict(BaseModel):
    """The members' verdicts, and whether (and why) they dispute the structure's stability."""

    members: list[CommitteeMember]
    margin_thz: float
    disputed: bool
    dispute: str | None = Field(
        None, description="Why it is disputed, in words; None when the members agree"
    )


def committee_verdict(
    members: Sequence[CommitteeMember], margin_thz: float = DEFAULT_MARGIN_THZ
) -> CommitteeVerdict:
    """Disputed when the members' stability verdicts differ, or their lowest frequencies spread by more than
    ``margin_thz``."""
    if len(members) < 2:
        raise InputError(f"a committee needs two or more models, got {[m.model for m in members]}")
    stable = [m.model for m in members if m.dynamically_stable]
    unstable = [m.model for m in members if not m.dynamically_stable]
    lowest = min(members, key=lambda m: m.min_frequency_thz)
    highest = max(members, key=lambda m: m.min_frequency_thz)
    spread = highest.min_frequency_thz - lowest.min_frequency_thz
    dispute = None
    if stable and unstable:
        dispute = f"stable by {', '.join(stable)}; unstable by {', '.join(unstable)}"
    elif spread > margin_thz:
        dispute = (
            f"lowest frequency {lowest.min_frequency_thz:.2f} THz ({lowest.model}) vs {highest.min_frequency_thz:.2f} THz "
            f"({highest.model}): {spread:.2f} THz apart, more than {margin_thz:g}"
        )
    return CommitteeVerdict(
        members=list(members), margin_thz=margin_thz, disputed=dispute is not None, dispute=dispute
    )


def member_verdict(
    structure: Structure,
    supercell_matrix: list[list[int]],
    model: str,
    calculator,
    n_supercells: int,
    amplitude_A: float,
    seed: int,
    fc_method: str = "symfc",
) -> CommitteeMember:
    """One model's stability verdict on ``structure``'s displaced supercells, its residual forces removed."""
    reference = random_displacement_reference(
        structure,
        supercell_matrix,
        lambda cells: predict_forces(cells, calculator, label=f"{model} forces"),
        name=model,
        n_supercells=n_supercells,
        amplitude_A=amplitude_A,
        seed=seed,
        remove_residual_forces=True,
    )
    verdict, _ = stability_screen(fit_force_constants(reference, method=fc_method))
    return CommitteeMember(
        model=model,
        dynamically_stable=verdict.dynamically_stable,
        min_frequency_thz=verdict.min_frequency_thz,
        reason=verdict.reason,
    )
