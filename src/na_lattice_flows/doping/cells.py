"""Doped supercells: the dopant on the host sublattice by a special quasi-random structure (icet), and one Na
vacancy per unit of excess dopant charge removed at random (seeded), or either change alone (the study's two
control systems). The achieved fraction depends on the cell: ``round(fraction * host sites) / host sites``.

Charge bookkeeping: the host's oxidation state is pymatgen's most likely guess for the parent composition, the
dopant's its highest common oxidation state (W6+ on Sb5+: one Na+ vacancy per W)."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Element, Structure

from na_lattice_flows.errors import InputError

VacancyMode = Literal["compensate", "none", "only"]
MOBILE_ION = "Na"
# pairs to the second host-host shell of Na3SbS4, triplets of the first
DEFAULT_SQS_CUTOFFS_A = (
    8.0,
    6.5,
)


class DopedCell(BaseModel):
    """A doped supercell and what it holds."""

    structure: Structure
    dopant: str
    host_site: str
    requested_fraction: float
    achieved_fraction: float = Field(
        description="dopant atoms / host sites (for --vacancies-only: vacancies / host sites)"
    )
    supercell: tuple[int, int, int]
    n_host_sites: int
    n_dopant: int
    n_vacancies: int
    vacancy_mode: VacancyMode
    net_charge_e: float = Field(
        description="formal charge left by the changes (0: charge balanced)"
    )
    seed: int
    sqs_cluster_vector: list[float] = Field(
        default_factory=list, description="icet cluster vector of the dopant arrangement"
    )
    target_cluster_vector: list[float] = Field(
        default_factory=list, description="icet's random-alloy cluster vector"
    )

    @property
    def formula(self) -> str:
        """The cell's full formula (the vacancies show)."""
        return self.structure.composition.formula.replace(" ", "")


MAX_DOPED_ATOMS = (
    200_000  # 7x the study's 12x12x12 cell; a larger request is a typo that would run unbounded
)


def parse_dopant(text: str) -> tuple[str, str]:
    """'W:Sb' -> ('W', 'Sb'): dopant element on the host element's sites."""
    match = re.fullmatch(r"\s*([A-Z][a-z]?)\s*:\s*([A-Z][a-z]?)\s*", text or "")
    if not match or not all(Element.is_valid_symbol(symbol) for symbol in match.groups()):
        raise InputError(f"dopant {text!r}: give DOPANT:HOST with two element symbols, e.g. W:Sb")
    return match.group(1), match.group(2)


def parse_supercell(text: str) -> tuple[int, int, int]:
    """'2x2x2' -> (2, 2, 2)."""
    parts = str(text).lower().split("x")
    if len(parts) != 3 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise InputError(f"supercell {text!r}: give three positive integers as NxMxK, e.g. 2x2x2")
    return tuple(int(part) for part in parts)


def charge_per_dopant(structure: Structure, dopant: str, host_site: str) -> int:
    """Formal charge one dopant atom adds on a host site (W6+ for Sb5+: +1)."""
    guesses = structure.composition.oxi_state_guesses(max_sites=-1)
    if not guesses or host_site not in guesses[0]:
        raise InputError(
            f"cannot assign an oxidation state to {host_site} in {structure.composition.reduced_formula}"
        )
    host_state = guesses[0][host_site]
    dopant_state = max(Element(dopant).common_oxidation_states or Element(dopant).oxidation_states)
    return round(dopant_state - host_state)


def check_doping(
    structure: Structure,
    dopant: str,
    host_site: str,
    fraction: float,
    supercell: tuple[int, int, int],
    seed: int = 0,
    vacancy_mode: VacancyMode = "compensate",
) -> None:
    """Every refusal of ``doped_supercell`` that needs no SQS: the host site is there, the fraction is possible
    in the cell, the dopant's charge can be compensated by the cell's Na vacancies, the seed is >= 0. Cheap, so
    that a study is refused at submission, before any of its jobs is stored."""
    formula = structure.composition.reduced_formula
    n_atoms = len(structure) * int(np.prod(supercell))
    if n_atoms > MAX_DOPED_ATOMS:
        raise InputError(
            f"supercell {'x'.join(map(str, supercell))}: {n_atoms:,} atoms of {formula}, more than the "
            f"{MAX_DOPED_ATOMS:,} any MD here can hold (the study's cell: 27,648)"
        )
    if host_site not in structure.composition:
        raise InputError(f"host site {host_site}: not in {formula}")
    if not 0 <= fraction <= 1:
        raise InputError(f"fraction {fraction}: must lie in [0, 1]")
    if seed < 0:
        raise InputError(f"seed {seed}: must be >= 0")
    n_cells = int(np.prod(supercell))
    n_host = int(structure.composition[host_site]) * n_cells
    n_dopant = round(fraction * n_host)
    if fraction > 0 and n_dopant == 0:
        raise InputError(
            f"fraction {fraction}: a {'x'.join(map(str, supercell))} cell has {n_host} {host_site} sites, "
            f"so the smallest non-zero fraction is 1/{n_host} = {1 / n_host:.4f}; use a larger supercell"
        )
    if vacancy_mode == "none" or n_dopant == 0:
        return
    excess_charge = charge_per_dopant(structure, dopant, host_site)
    if excess_charge < 0:
        raise InputError(
            f"{dopant} on {host_site} lowers the charge; compensating it needs Na interstitials, not vacancies"
        )
    n_na = int(structure.composition[MOBILE_ION]) * n_cells
    if n_dopant * excess_charge > n_na:
        raise InputError(
            f"{n_dopant * excess_charge} Na vacancies needed ({n_dopant} {dopant} on {host_site}) but the "
            f"{'x'.join(map(str, supercell))} cell of {formula} has {n_na} Na"
        )


def doped_supercell(
    structure: Structure,
    dopant: str,
    host_site: str,
    fraction: float,
    supercell: tuple[int, int, int],
    seed: int = 0,
    vacancy_mode: VacancyMode = "compensate",
    sqs_cutoffs_A: tuple[float, ...] = DEFAULT_SQS_CUTOFFS_A,
    sqs_steps: int | None = None,
) -> DopedCell:
    """The doped ``structure * supercell``. ``vacancy_mode``: 'compensate' (dopant and one Na vacancy per unit
    of excess charge), 'none' (dopant only), 'only' (the same Na vacancies, no dopant). Same seed, same cell."""
    check_doping(structure, dopant, host_site, fraction, supercell, seed, vacancy_mode)
    cell = structure * supercell
    host_indices = [i for i, site in enumerate(cell) if site.specie.symbol == host_site]
    n_dopant = round(fraction * len(host_indices))
    excess_charge = charge_per_dopant(structure, dopant, host_site)
    n_vacancies = 0 if vacancy_mode == "none" else n_dopant * excess_charge
    cluster_vector: list[float] = []
    target: list[float] = []
    dopant_indices: list[int] = []
    if n_dopant and vacancy_mode != "only":
        dopant_indices, cluster_vector, target = sqs_dopant_sites(
            structure, cell, dopant, host_site, n_dopant, seed, sqs_cutoffs_A, sqs_steps
        )
    doped = cell.copy()
    for index in dopant_indices:
        doped.replace(index, dopant)
    na_indices = [i for i, site in enumerate(doped) if site.specie.symbol == MOBILE_ION]
    if n_vacancies > len(na_indices):
        raise InputError(
            f"{n_vacancies} Na vacancies requested but the cell has {len(na_indices)} Na"
        )
    rng = np.random.default_rng(seed)
    doped.remove_sites(sorted(rng.choice(na_indices, size=n_vacancies, replace=False).tolist()))
    counted = n_vacancies if vacancy_mode == "only" else n_dopant
    return DopedCell(
        structure=doped,
        dopant=dopant,
        host_site=host_site,
        requested_fraction=fraction,
        achieved_fraction=counted / len(host_indices),
        supercell=tuple(supercell),
        n_host_sites=len(host_indices),
        n_dopant=len(dopant_indices),
        n_vacancies=n_vacancies,
        vacancy_mode=vacancy_mode,
        net_charge_e=float(len(dopant_indices) * excess_charge - n_vacancies),
        seed=seed,
        sqs_cluster_vector=cluster_vector,
        target_cluster_vector=target,
    )


def sqs_dopant_sites(
    primitive: Structure,
    cell: Structure,
    dopant: str,
    host_site: str,
    n_dopant: int,
    seed: int,
    cutoffs_A: tuple[float, ...],
    steps: int | None,
) -> tuple[list[int], list[float], list[float]]:
    """Host sites of ``cell`` that get the dopant: icet's SQS annealing in this one supercell (the cell the user
    chose), on a cluster space of the host sublattice only. Returns the sites, the SQS's cluster vector and
    icet's target (random alloy) cluster vector."""
    from icet import ClusterSpace
    from icet.tools.structure_generation import (
        _get_sqs_cluster_vector,
        generate_sqs_from_supercells,
    )
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(primitive)
    allowed = [
        [host_site, dopant] if symbol == host_site else [symbol]
        for symbol in atoms.get_chemical_symbols()
    ]
    space = ClusterSpace(atoms, cutoffs=list(cutoffs_A), chemical_symbols=allowed)
    supercell_atoms = AseAtomsAdaptor.get_atoms(cell)
    n_host = sum(symbol == host_site for symbol in supercell_atoms.get_chemical_symbols())
    concentrations = {"A": {host_site: (n_host - n_dopant) / n_host, dopant: n_dopant / n_host}}
    sqs = generate_sqs_from_supercells(
        space,
        supercells=[supercell_atoms],
        target_concentrations=concentrations,
        random_seed=seed,
        n_steps=steps or max(3000, 200 * n_host),
    )
    # icet keeps the supercell's atom order: the sites whose symbol changed are the dopant sites
    sites = [
        i
        for i, (old, new) in enumerate(
            zip(supercell_atoms.get_chemical_symbols(), sqs.get_chemical_symbols(), strict=True)
        )
        if old != new
    ]
    target = _get_sqs_cluster_vector(space, concentrations)
    return sites, space.get_cluster_vector(sqs).tolist(), np.asarray(target).tolist()
