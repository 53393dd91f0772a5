"""Elastic moduli, as the screening records them: the bulk and shear moduli of atomate2's elastic document (its
force-field elastic flow with the screening's MLP, ``relax.jobs.mlp_elastic_maker``), which the analysis
correlates with D (a soft lattice, a mobile Na)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ElasticSummary(BaseModel):
    """Elastic moduli from atomate2's elastic flow, the figures the table and correlations use."""

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
