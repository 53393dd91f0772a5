"""Elastic moduli with the screening's MLP: atomate2's force-field elastic flow (strained cells, ionic relaxation
in each, the elastic tensor fitted by pymatgen), summarised as the bulk and shear moduli that the analysis
correlates with D (a soft lattice, a mobile Na)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from atomate2.forcefields.flows.elastic import ElasticMaker

# Far below the 0.5-1 % strains (~0.03 A on a 5 A cell): the deformed cell keeps its own, lower symmetry and is
# never snapped back to the undeformed one (atomate2's default tolerance, 1e-2 A, is near that size).
STRAINED_SYMPREC = 1e-5


class ElasticSummary(BaseModel):
    bulk_modulus_vrh_GPa: float | None = Field(None, description="Voigt-Reuss-Hill average")
    shear_modulus_vrh_GPa: float | None = Field(None, description="Voigt-Reuss-Hill average")
    universal_anisotropy: float | None = None
    poisson_ratio: float | None = None


def elastic_summary(document: dict | BaseModel | None) -> ElasticSummary | None:
    """The moduli of atomate2's ElasticDocument (GPa, as pymatgen's ElasticTensor gives them)."""
    if document is None:
        return None
    if isinstance(document, BaseModel):
        document = document.model_dump()
    derived = document.get("derived_properties") or {}
    return ElasticSummary(
        bulk_modulus_vrh_GPa=derived.get("k_vrh"),
        shear_modulus_vrh_GPa=derived.get("g_vrh"),
        universal_anisotropy=derived.get("universal_anisotropy"),
        poisson_ratio=derived.get("homogeneous_poisson"),
    )


def mlp_elastic_maker(model: str = "chgnet", fmax: float = 1e-4) -> ElasticMaker:
    """The elastic flow for one MLP: a tight re-relaxation of the screened cell (its stress is the reference the
    fit subtracts), then the ionic relaxation of every symmetry-distinct strained cell."""
    from atomate2.forcefields.flows.elastic import ElasticMaker

    from na_lattice_flows.jobs import MLPRelaxMaker  # jobs imports this module's summary

    bulk = MLPRelaxMaker(name="mlp elastic bulk relax", model=model, relax_kwargs={"fmax": fmax})
    strained = MLPRelaxMaker(name="mlp elastic relax", model=model, relax_cell=False, symprec=STRAINED_SYMPREC, relax_kwargs={"fmax": fmax})
    return ElasticMaker(name="mlp elastic", bulk_relax_maker=bulk, elastic_relax_maker=strained)
