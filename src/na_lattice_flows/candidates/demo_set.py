"""The built-in demo set: sodium compounds built from published space groups and Wyckoff positions.

It spans the range the screen must separate: rock-salt NaCl and antifluorite Na2S (poor Na conductors),
the antiperovskite Na3OCl, and the cubic thiophosphate/thioantimonate superionic conductors Na3PS4 and Na3SbS4.
Lattice parameters are the experimental values of the cited studies. The one free coordinate, S on 8c
(x, x, x) in the I-43m thio-salts, is set from the reported tetrahedral bond length (P-S 2.06 A, Sb-S 2.32 A:
x = d / (a sqrt 3)). The MLP relaxation that follows takes each to the model's own equilibrium, so small
differences to the references do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymatgen.core import Lattice, Structure

from na_lattice_flows.candidates.loaders import Candidate


@dataclass(frozen=True)
class DemoCompound:
    """A compound built from its space group, cubic lattice parameter and Wyckoff positions."""

    name: str
    space_group: str
    a_A: float
    species: tuple[str, ...]
    wyckoff_coords: tuple[tuple[float, float, float], ...]
    reference: str
    expected_conductor: bool

    def structure(self) -> Structure:
        """The conventional cell."""
        lattice = Lattice.cubic(self.a_A)
        return Structure.from_spacegroup(
            self.space_group, lattice, list(self.species), [list(c) for c in self.wyckoff_coords]
        )


DEMO_COMPOUNDS: tuple[DemoCompound, ...] = (
    DemoCompound(
        name="NaCl",
        space_group="Fm-3m",
        a_A=5.6402,
        species=("Na", "Cl"),
        wyckoff_coords=((0, 0, 0), (0.5, 0.5, 0.5)),  # Na 4a, Cl 4b
        reference="Rock salt; a from D. Walker, P. K. Verma, L. M. D. Cranswick et al., Am. Mineral. 89, 204 (2004)",
        expected_conductor=False,
    ),
    DemoCompound(
        name="Na2S",
        space_group="Fm-3m",
        a_A=6.5373,
        species=("S", "Na"),
        wyckoff_coords=((0, 0, 0), (0.25, 0.25, 0.25)),  # S 4a, Na 8c (antifluorite)
        reference="Antifluorite; a from E. Zintl, A. Harder, B. Dauth, Z. Elektrochem. 40, 588 (1934)",
        expected_conductor=False,
    ),
    DemoCompound(
        name="Na3OCl",
        space_group="Pm-3m",
        a_A=4.4962,
        species=("Cl", "O", "Na"),
        wyckoff_coords=((0, 0, 0), (0.5, 0.5, 0.5), (0, 0.5, 0.5)),  # Cl 1a, O 1b, Na 3c
        reference="Antiperovskite; a from K. Hippler, S. Sitta, P. Vogt, H. Sabrowsky, Acta Cryst. C46, 736 (1990)",
        expected_conductor=False,
    ),
    DemoCompound(
        name="Na3PS4",
        space_group="I-43m",
        a_A=6.9965,
        species=("P", "Na", "S"),
        wyckoff_coords=((0, 0, 0), (0, 0.5, 0.5), (0.1699, 0.1699, 0.1699)),  # P 2a, Na 6b, S 8c
        reference="Cubic Na3PS4; M. Jansen, U. Henseler, J. Solid State Chem. 99, 110 (1992); "
        "A. Hayashi et al., Nat. Commun. 3, 856 (2012)",
        expected_conductor=True,
    ),
    DemoCompound(
        name="Na3SbS4",
        space_group="I-43m",
        a_A=7.1453,
        species=("Sb", "Na", "S"),
        wyckoff_coords=((0, 0, 0), (0, 0.5, 0.5), (0.1874, 0.1874, 0.1874)),  # Sb 2a, Na 6b, S 8c
        reference="Cubic Na3SbS4; L. Zhang et al., Adv. Sci. 3, 1600089 (2016); "
        "H. Wang et al., Angew. Chem. Int. Ed. 55, 8551 (2016)",
        expected_conductor=True,
    ),
)


# With the demo's four, the known conductors and non-conductors a campaign ranks its sample against.
EXTRA_CONTROL_COMPOUNDS: tuple[DemoCompound, ...] = (
    DemoCompound(
        name="Na3PSe4",
        space_group="I-43m",
        a_A=7.30,
        species=("P", "Na", "Se"),
        # P 2a, Na 6b, Se 8c from a P-Se bond of 2.19 A
        wyckoff_coords=((0, 0, 0), (0, 0.5, 0.5), (0.1732, 0.1732, 0.1732)),
        reference="Cubic Na3PSe4; L. Zhang et al., Adv. Energy Mater. 5, 1501294 (2015)",
        expected_conductor=True,
    ),
    DemoCompound(
        name="NaF",
        space_group="Fm-3m",
        a_A=4.634,
        species=("Na", "F"),
        wyckoff_coords=((0, 0, 0), (0.5, 0.5, 0.5)),  # Na 4a, F 4b
        reference="Rock salt (villiaumite); a = 4.634 A at room temperature",
        expected_conductor=False,
    ),
)


def _as_candidates(compounds, prefix: str) -> list[Candidate]:
    # conventional cells: the cells phonopy and phononDB use
    return [
        Candidate(
            candidate_id=f"{prefix}-{compound.name}",
            structure=compound.structure(),
            source=f"built-in: {compound.reference}",
        )
        for compound in compounds
    ]


def demo_candidates() -> list[Candidate]:
    """The demo compounds as candidates."""
    return _as_candidates(DEMO_COMPOUNDS, "demo")


def control_compounds() -> list[DemoCompound]:
    """A campaign's controls: the known fast conductors (cubic Na3PS4, Na3SbS4, Na3PSe4) and poor ones (NaCl, NaF,
    Na2S); ``expected_conductor`` says which."""
    controls = [c for c in DEMO_COMPOUNDS if c.name != "Na3OCl"]
    return controls + list(EXTRA_CONTROL_COMPOUNDS)


def control_candidates() -> list[Candidate]:
    """The controls as candidates (ids ``control-<name>``)."""
    return _as_candidates(control_compounds(), "control")
