"""OPTIMADE candidates: the filter we send, and parsing a provider response that the test writes."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.ext.optimade import OptimadeRester

from na_lattice_flows.candidates.optimade import build_optimade_filter, query_optimade
from na_lattice_flows.candidates.screen import screen_candidates


def test_filters():
    assert (
        build_optimade_filter("oqmd", max_sites=40)
        == 'elements HAS "Na" AND nsites<=40 AND _oqmd_band_gap>0 AND _oqmd_delta_e<0'
    )
    assert build_optimade_filter("mp") == 'elements HAS "Na"'
    with pytest.raises(ValueError, match="unknown OPTIMADE provider 'icsd'"):
        build_optimade_filter("icsd")


def optimade_entry(entry_id: str, structure: Structure, gap: float, delta_e: float) -> dict:
    symbols = [site.specie.symbol for site in structure]
    kinds = sorted(set(symbols))
    return {
        "id": entry_id,
        "type": "structures",
        "attributes": {
            "lattice_vectors": structure.lattice.matrix.tolist(),
            "cartesian_site_positions": structure.cart_coords.tolist(),
            "species_at_sites": symbols,
            "species": [
                {"name": k, "chemical_symbols": [k], "concentration": [1.0]} for k in kinds
            ],
            "nsites": len(structure),
            "_oqmd_band_gap": gap,
            "_oqmd_delta_e": delta_e,
        },
    }


def test_query_parses_a_provider_response(monkeypatch):
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    na2s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.54), ["S", "Na"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    response = {
        "data": [optimade_entry("1001", nacl, 5.0, -2.1), optimade_entry("1002", na2s, 0.0, -1.2)],
        "meta": {"data_returned": 2},
        "links": {"next": None},
    }
    requested: list[str] = []

    def fake_get_json(self, url):
        requested.append(url)
        return response

    monkeypatch.setattr(OptimadeRester, "_validate_provider", lambda self, provider_url: None)
    monkeypatch.setattr(OptimadeRester, "_get_json", fake_get_json)
    loaded = query_optimade("oqmd", max_sites=40)

    [url] = requested
    assert url.startswith("https://oqmd.org/optimade/v1/structures?filter=")
    assert 'elements HAS "Na" AND nsites<=40 AND _oqmd_band_gap>0 AND _oqmd_delta_e<0' in url
    assert "_oqmd_band_gap" in url.split("response_fields")[1]

    by_id = {c.candidate_id: c for c in loaded.candidates}
    assert set(by_id) == {"oqmd-1001", "oqmd-1002"}
    assert by_id["oqmd-1001"].structure.composition.reduced_formula == "NaCl"
    assert by_id["oqmd-1001"].structure.matches(nacl)
    assert by_id["oqmd-1001"].band_gap_eV == 5.0
    assert by_id["oqmd-1002"].formation_energy_eV_per_atom == -1.2
    # the local screen applies the criteria again: the zero-gap entry is dropped with its reason
    report = screen_candidates(loaded)
    assert [c.candidate_id for c in report.accepted] == ["oqmd-1001"]
    assert report.rejections[0].reason.startswith("band gap")
