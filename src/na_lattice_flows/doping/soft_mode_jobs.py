"""The soft-mode route to T_C as a job (``na-flows doping soft-mode --submit``): a worker runs the effective
phonons at each temperature and the store keeps the series, which the report draws. ``soft_mode_series`` is also
what the command runs in place without ``--submit``."""

from __future__ import annotations

from jobflow import job
from pydantic import Field
from pymatgen.core import Structure

from na_lattice_flows.models import get_calculator, model_provenance
from na_lattice_flows.phonons.finite_temperature import model_forces_of
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
from na_lattice_flows.phonons.soft_mode import SoftModeTransition, soft_mode_transition
from na_lattice_flows.routing import GPU, worker
from na_lattice_flows.structure.supercells import paper_supercell


class SoftModeDocument(SoftModeTransition):
    """A soft-mode temperature series as the store keeps it."""

    soft_mode_study: bool = Field(
        True, description="Marks these documents in the store (the report finds them by it)"
    )
    formula: str
    name: str
    model: str
    model_provenance: dict | None = None
    supercell_matrix: list[list[int]]
    structures_per_iteration: int
    relaxed: bool = Field(
        description="Relaxed with the model in its space group before the phonons"
    )


@job(output_schema=SoftModeDocument)
@worker(GPU)
def soft_mode_series(
    structure: Structure,
    name: str,
    model: str,
    temperatures_K: list[float],
    qpoint: list[float] | None = None,
    supercell_matrix: list[list[int]] | None = None,
    structures_per_iteration: int = 20,
    relax: bool = True,
) -> SoftModeDocument:
    """Harmonic phonons of ``structure`` (30 random-displacement supercells, symfc), then the effective phonons at
    each temperature from the hot side down and the T_C their soft mode extrapolates to (``phonons.soft_mode``)."""
    from tqdm.auto import tqdm

    from na_lattice_flows.doping.hosts import relax_in_space_group

    calculator = get_calculator(model)
    if relax:
        structure = relax_in_space_group(structure, calculator)
    matrix = supercell_matrix or paper_supercell(structure).supercell_matrix
    reference = random_displacement_reference(
        structure,
        matrix,
        lambda cells: predict_forces(cells, calculator, progress=True, label="harmonic"),
        name=name,
    )
    ph = fit_force_constants(reference)
    bar = tqdm(total=len(temperatures_K), desc="temperatures", unit="T")
    transition = soft_mode_transition(
        ph,
        model_forces_of(ph, calculator),
        temperatures_K,
        qpoint,
        {"n_structures": structures_per_iteration},
        progress=lambda point: bar.update(),
    )
    bar.close()
    return SoftModeDocument(
        **transition.model_dump(),
        formula=structure.composition.reduced_formula,
        name=name,
        model=model,
        model_provenance=model_provenance(model),
        supercell_matrix=[list(map(int, row)) for row in matrix],
        structures_per_iteration=structures_per_iteration,
        relaxed=relax,
    )
