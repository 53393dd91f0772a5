"""Candidates from OQMD or Materials Project through pymatgen's OPTIMADE client (for users who are online).

The study drew its pool from OQMD/ICSD: Na-containing, band gap > 0, formation energy < 0. The OPTIMADE
standard fields (elements, nsites) are filtered on the server; the provider-specific gap and formation-energy
fields are requested and, where the provider has them in its filter grammar, filtered there too. The local
screen (``candidates.screen.screen_candidates``) applies the same criteria again to whatever comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymatgen.ext.optimade import OptimadeRester

from na_lattice_flows.candidates.loaders import Candidate, LoadResult, Rejection
from na_lattice_flows.errors import InputError


@dataclass(frozen=True)
class ProviderFields:
    """Where an OPTIMADE provider keeps band gap and formation energy, and whether it filters on
    them."""

    band_gap: str | None
    formation_energy: str | None
    server_side_property_filter: bool


PROVIDER_FIELDS = {
    "oqmd": ProviderFields("_oqmd_band_gap", "_oqmd_delta_e", server_side_property_filter=True),
    "mp": ProviderFields(
        "_mp_band_gap", "_mp_formation_energy_per_atom", server_side_property_filter=False
    ),
}


def build_optimade_filter(provider: str, max_sites: int | None = None) -> str:
    """The OPTIMADE filter string for Na-containing candidates of ``provider``."""
    fields = _provider_fields(provider)
    clauses = ['elements HAS "Na"']
    if max_sites is not None:
        clauses.append(f"nsites<={int(max_sites)}")
    if fields.server_side_property_filter:
        clauses += [f"{fields.band_gap}>0", f"{fields.formation_energy}<0"]
    return " AND ".join(clauses)


def _provider_fields(provider: str) -> ProviderFields:
    try:
        return PROVIDER_FIELDS[provider]
    except KeyError:
        raise InputError(
            f"unknown OPTIMADE provider {provider!r}; choose one of {', '.join(PROVIDER_FIELDS)}"
        ) from None


def query_optimade(provider: str, max_sites: int | None = None, timeout: int = 30) -> LoadResult:
    """Fetch candidates from ``provider`` ("oqmd" or "mp"); needs network access."""
    fields = _provider_fields(provider)
    rester = OptimadeRester(provider, timeout=timeout)
    response_fields = [f for f in (fields.band_gap, fields.formation_energy) if f]
    snls = rester.get_snls_with_filter(
        build_optimade_filter(provider, max_sites), additional_response_fields=response_fields
    )
    return candidates_from_snls(provider, snls.get(provider, {}))


def candidates_from_snls(provider: str, snls: dict) -> LoadResult:
    """Turn the StructureNLs that OptimadeRester returns into candidates with their properties."""
    fields = _provider_fields(provider)
    result = LoadResult()
    for entry_id, snl in snls.items():
        attributes = snl.data.get("_optimade", {})
        candidate_id = f"{provider}-{entry_id}"
        try:
            result.candidates.append(
                Candidate(
                    candidate_id=candidate_id,
                    structure=snl.structure,
                    source=f"optimade:{provider}:{entry_id}",
                    band_gap_eV=_number_or_none(attributes.get(fields.band_gap)),
                    formation_energy_eV_per_atom=_number_or_none(
                        attributes.get(fields.formation_energy)
                    ),
                )
            )
        except (TypeError, ValueError) as exc:
            result.rejections.append(
                Rejection(
                    candidate_id=candidate_id,
                    source=f"optimade:{provider}",
                    reason=f"bad entry: {exc}",
                )
            )
    return result


def _number_or_none(value) -> float | None:
    return None if value is None else float(value)
