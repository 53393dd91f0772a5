"""The paper's candidate screen (§2.1): Na-containing, band gap > 0, formation energy < 0, ordered, sane
geometry, within size limits, and deduplicated. Every structure that is dropped gets a ``Rejection``."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure

from na_lattice_flows.candidates.loaders import Candidate, LoadResult, Rejection


class ScreeningCriteria(BaseModel):
    """What a structure must satisfy to be screened further; the defaults are the paper's."""

    required_element: str = "Na"
    min_band_gap_eV: float = Field(
        0.0, description="Band gap must be strictly above this, where known"
    )
    max_formation_energy_eV_per_atom: float = Field(
        0.0, description="Must be strictly below this, where known"
    )
    allow_disordered: bool = Field(False, description="Keep structures with partial occupancies")
    min_interatomic_distance_A: float = Field(
        0.5, description="Closer pairs of atoms mean overlapping sites"
    )
    max_sites: int | None = Field(
        200, description="Largest unit cell taken, in atoms (None: no limit)"
    )
    min_sites: int = 1
    deduplicate: bool = True
    unknown_gap: Literal["keep", "charge-balance", "refuse"] = Field(
        "keep",
        description="Structures without a band gap (files): keep, refuse those not charge-balanced, or refuse",
    )


class ScreeningReport(BaseModel):
    """The screen's outcome: the accepted candidates and every refused one with its reason."""

    accepted: list[Candidate] = Field(default_factory=list)
    rejections: list[Rejection] = Field(default_factory=list)
    accepted_without_gap: list[str] = Field(
        default_factory=list, description="Accepted without a band gap to screen on"
    )
    notes: list[str] = Field(
        default_factory=list, description="The loaders' notes: renamed ids, skipped files"
    )

    def rejection_counts(self) -> dict[str, int]:
        """How many were refused for each kind of reason (the text before the first colon)."""
        counts: dict[str, int] = defaultdict(int)
        for rejection in self.rejections:
            counts[rejection.reason.split(":")[0]] += 1
        return dict(counts)


def rejection_reason(candidate: Candidate, criteria: ScreeningCriteria) -> str | None:
    """Why ``candidate`` fails the per-structure criteria, or None when it passes."""
    structure = candidate.structure
    element = criteria.required_element
    if element not in {el.symbol for el in structure.composition.elements}:
        return f"no {element}: composition {structure.composition.reduced_formula}"
    if not structure.is_ordered and not criteria.allow_disordered:
        partial = sorted({str(site.species) for site in structure if not site.is_ordered})
        return (
            f"partial occupancies: sites {', '.join(partial)} (pass allow_disordered to keep them)"
        )
    if criteria.max_sites is not None and len(structure) > criteria.max_sites:
        return f"too large: {len(structure)} sites > max_sites {criteria.max_sites}"
    if len(structure) < criteria.min_sites:
        return f"too small: {len(structure)} sites < min_sites {criteria.min_sites}"
    if (overlap := closest_pair(structure, criteria.min_interatomic_distance_A)) is not None:
        i, j, distance = overlap
        return (
            f"overlapping atoms: sites {i} ({structure[i].species_string}) and {j} "
            f"({structure[j].species_string}) are {distance:.3f} A apart "
            f"(< {criteria.min_interatomic_distance_A} A)"
        )
    if candidate.band_gap_eV is None and criteria.unknown_gap == "refuse":
        return "band gap: unknown (--unknown-gap refuse)"
    if (
        candidate.band_gap_eV is None
        and criteria.unknown_gap == "charge-balance"
        and not charge_balanced(structure.composition)
    ):
        return (
            f"no charge-balanced oxidation states: {structure.composition.reduced_formula} is likely metallic "
            "(no band gap known; --unknown-gap charge-balance)"
        )
    if candidate.band_gap_eV is not None and not candidate.band_gap_eV > criteria.min_band_gap_eV:
        return f"band gap: {candidate.band_gap_eV:.3f} eV is not > {criteria.min_band_gap_eV} eV"
    e_form = candidate.formation_energy_eV_per_atom
    if e_form is not None and not e_form < criteria.max_formation_energy_eV_per_atom:
        return f"formation energy: {e_form:.3f} eV/atom is not < {criteria.max_formation_energy_eV_per_atom} eV/atom"
    return None


def charge_balanced(composition: Composition) -> bool:
    """Whether common oxidation states balance the charge (pymatgen's ``oxi_state_guesses`` of the reduced
    formula). A compound with a band gap is, to a good approximation, ionic and so can be written this way;
    elements and intermetallics (Na, NaSn, NaTl) cannot. A heuristic without a calculation, for structures whose
    input gives no band gap: it keeps a few metals that happen to balance (e.g. suboxides), so it is opt-in."""
    if len(composition.elements) < 2:
        return False
    guesses = composition.reduced_composition.oxi_state_guesses(max_sites=-50)
    return any(any(state != 0 for state in guess.values()) for guess in guesses)


def closest_pair(structure: Structure, cutoff: float) -> tuple[int, int, float] | None:
    """The closest pair of sites nearer than ``cutoff`` (periodic images included), or None."""
    centers, neighbors, _, distances = structure.get_neighbor_list(r=cutoff)
    if len(distances) == 0:
        return None
    k = int(distances.argmin())
    return int(centers[k]), int(neighbors[k]), float(distances[k])


def deduplicate(
    candidates: list[Candidate], matcher: StructureMatcher | None = None
) -> tuple[list[Candidate], list[Rejection]]:
    """Group symmetry-equivalent structures (pymatgen's StructureMatcher) and keep one of each: the one with
    the lowest formation energy where known, else the first seen."""
    matcher = matcher or StructureMatcher()
    by_formula: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_formula[candidate.structure.composition.reduced_formula].append(candidate)

    kept_ids: set[str] = set()
    rejections: list[Rejection] = []
    for group in by_formula.values():
        if len(group) == 1:
            kept_ids.add(group[0].candidate_id)
            continue
        index_of = {id(c.structure): c for c in group}
        for matched in matcher.group_structures([c.structure for c in group]):
            members = [index_of[id(s)] for s in matched]
            keeper = min(
                members,
                key=lambda c: (
                    c.formation_energy_eV_per_atom is None,
                    c.formation_energy_eV_per_atom or 0.0,
                ),
            )
            kept_ids.add(keeper.candidate_id)
            rejections += [
                Rejection(
                    candidate_id=c.candidate_id,
                    source=c.source,
                    reason=f"duplicate: of {keeper.candidate_id}",
                )
                for c in members
                if c is not keeper
            ]
    return [c for c in candidates if c.candidate_id in kept_ids], rejections


def screen_candidates(
    loaded: LoadResult, criteria: ScreeningCriteria | None = None
) -> ScreeningReport:
    """Apply the criteria to every loaded candidate, then deduplicate what passes."""
    criteria = criteria or ScreeningCriteria()
    report = ScreeningReport(rejections=list(loaded.rejections), notes=list(loaded.notes))
    passing: list[Candidate] = []
    seen_ids: set[str] = set()
    for candidate in loaded.candidates:
        if candidate.candidate_id in seen_ids:
            report.rejections.append(
                Rejection(
                    candidate_id=candidate.candidate_id,
                    source=candidate.source,
                    reason="repeated id: already loaded",
                )
            )
            continue
        seen_ids.add(candidate.candidate_id)
        if (reason := rejection_reason(candidate, criteria)) is not None:
            report.rejections.append(
                Rejection(
                    candidate_id=candidate.candidate_id, source=candidate.source, reason=reason
                )
            )
        else:
            passing.append(candidate)
    if criteria.deduplicate:
        passing, duplicates = deduplicate(passing)
        report.rejections += duplicates
    report.accepted = passing
    report.accepted_without_gap = [c.candidate_id for c in passing if c.band_gap_eV is None]
    return report
