"""Host structures the doped study starts from that no database here holds. Tetragonal (P-42_1c) Na3SbS4 is
built from tetragonal Na3PS4 (mp-28782 in the candidate pool) by putting Sb on the P sites, scaling the volume by
the cubic phases' ratio (a = 7.1453 A for Na3SbS4, 6.9965 A for Na3PS4: the demo set's experimental values),
and relaxing with an MLP in its space group, which keeps the tetragonal distortion the NPT runs start from."""

from __future__ import annotations

from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from na_lattice_flows.errors import InputError

CUBIC_LATTICE_A = {"Na3PS4": 6.9965, "Na3SbS4": 7.1453}  # I-43m, experiment (candidates.demo_set)


def substituted_host(
    structure: Structure, old: str, new: str, volume_scale: float | None = None
) -> Structure:
    """``structure`` with every ``old`` replaced by ``new``; the volume scaled by ``volume_scale`` (default: the
    cubic Na3XS4 ratio when the pair is P -> Sb, else 1)."""
    if old not in structure.composition:
        raise InputError(
            f"substitute {old}:{new}: there is no {old} in {structure.composition.reduced_formula}"
        )
    substituted = structure.copy()
    substituted.replace_species({old: new})
    if volume_scale is None:
        volume_scale = (
            (CUBIC_LATTICE_A["Na3SbS4"] / CUBIC_LATTICE_A["Na3PS4"]) ** 3
            if (old, new) == ("P", "Sb")
            else 1.0
        )
    substituted.scale_lattice(structure.volume * volume_scale)
    return substituted


def relax_in_space_group(
    structure: Structure, calculator, fmax_eV_per_A: float = 0.01, max_steps: int = 500
) -> Structure:
    """Positions and cell relaxed with ``calculator`` under ASE's FixSymmetry (the space group is kept)."""
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator
    atoms.set_constraint(FixSymmetry(atoms))
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=fmax_eV_per_A, steps=max_steps)
    atoms.set_constraint()
    return AseAtomsAdaptor.get_structure(atoms)


def space_group(structure: Structure, symprec: float = 0.01) -> str:
    """The space-group symbol of ``structure`` at ``symprec``."""
    return SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_symbol()
