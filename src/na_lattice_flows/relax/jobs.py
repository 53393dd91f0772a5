"""The relaxation step: the MLP relaxation Maker (atomate2's force-field relax with this package's model
registry), the relaxed structure and energy read from any relax step's output (MLP, GPAW, VASP), and the MLP
elastic flow (atomate2's, with the same relaxations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atomate2.forcefields.jobs import ForceFieldRelaxMaker, forcefield_job
from atomate2.forcefields.schemas import ForceFieldTaskDocument
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from na_lattice_flows.checks import check_range
from na_lattice_flows.models import model_provenance, resolve_model
from na_lattice_flows.settings import SETTINGS

if TYPE_CHECKING:
    from atomate2.forcefields.flows.elastic import ElasticMaker

REGISTRY_CALCULATOR = {"@module": "na_lattice_flows.models", "@callable": "get_calculator"}


class MLPRelaxDocument(ForceFieldTaskDocument):
    """atomate2's force-field task document, with the model's training provenance like every other document."""

    model_provenance: dict | None = Field(
        None,
        description="Training provenance of a model trained here (models.model_provenance); None: pretrained",
    )


@dataclass
class MLPRelaxMaker(ForceFieldRelaxMaker):
    """Full (cell + positions) relaxation with a machine-learned potential: atomate2's force-field relax, with
    the calculator from this package's registry (any name ``models.resolve_model`` takes, loaded once per
    worker process) and the screening's defaults: CHGNet, forces below 0.01 eV/A, up to 1000 optimizer steps.

    The space group is kept (ASE's FixSymmetry, after snapping the input to the symmetry found at ``symprec``),
    as VASP keeps it by default (ISYM) in the paper's relaxations: a free BFGS leaves ~1e-4 A of noise that
    phonopy reads as a lower symmetry, and the force-constant fits then slow down by orders of magnitude
    (hiphive on 128-atom Na3PS4: > 4 min instead of 12 s). An instability that would break the symmetry is
    what the phonon screen then finds as imaginary modes. ``fix_symmetry=False`` relaxes freely."""

    name: str = "mlp relax"
    model: str = SETTINGS.default_model
    relax_cell: bool = True
    fix_symmetry: bool = True
    steps: int = 1000
    relax_kwargs: dict = field(default_factory=lambda: {"fmax": 0.01})

    def __post_init__(self) -> None:
        self.model = resolve_model(
            self.model
        ).name  # unknown names and missing checkpoints fail here, at submission
        check_range("relax fmax (eV/A)", self.relax_kwargs.get("fmax", 0.05), above=0)
        check_range("relax steps", self.steps, at_least=1)
        self.force_field_name = REGISTRY_CALCULATOR
        self.calculator_kwargs = {**self.calculator_kwargs, "name": self.model}
        super().__post_init__()

    @forcefield_job
    def make(self, structure: Structure | list[Structure], prev_dir=None):
        """atomate2's relaxation; its document(s) also say where a trained model came from."""
        result = ForceFieldRelaxMaker.make.original(self, structure, prev_dir=prev_dir)
        provenance = model_provenance(self.model)
        documents = [
            MLPRelaxDocument.model_construct(**dict(doc), model_provenance=provenance)
            for doc in (result if isinstance(result, list) else [result])
        ]
        return documents if isinstance(result, list) else documents[0]


@dataclass(frozen=True)
class RelaxationOutcome:
    """A relaxation's result read from any relax job's output (MLP, GPAW, VASP)."""

    structure: Structure
    energy_per_atom_eV: float
    converged: bool | None
    n_steps: int | None


def relaxation_outcome(document: dict | BaseModel) -> RelaxationOutcome:
    """The relaxed structure, energy and convergence from the output of any relax step the screening flow takes:
    atomate2's force-field task document (MLP), our GPAW task document, or atomate2's VASP TaskDoc (as stored, or
    as the object jobflow may decode it into)."""
    if isinstance(document, BaseModel):
        document = document.model_dump()
    structure = (
        Structure.from_dict(document["structure"])
        if isinstance(document["structure"], dict)
        else document["structure"]
    )
    if "is_force_converged" in document:  # ForceFieldTaskDocument
        return RelaxationOutcome(
            structure,
            document["output"]["energy_per_atom"],
            document["is_force_converged"],
            document["output"].get("n_steps"),
        )
    if "energy_per_atom_eV" in document:  # GPAWTaskDocument
        return RelaxationOutcome(
            structure, document["energy_per_atom_eV"], document["converged"], document["n_steps"]
        )
    if "calcs_reversed" in document:  # VASP TaskDoc: custodian finished it and VASP reached EDIFFG
        ionic_steps = (document["calcs_reversed"][0].get("output") or {}).get("ionic_steps") or []
        return RelaxationOutcome(
            structure,
            document["output"]["energy_per_atom"],
            str(document.get("state")).lower().endswith("successful"),
            len(ionic_steps) or None,
        )
    raise ValueError(
        f"relaxation output with fields {sorted(document)[:8]}...: not a force-field, GPAW or VASP task document"
    )


def relax_method(maker) -> str:
    """How a relax step computes energies, for the record: the MLP's registry name, or the DFT code and functional."""
    from na_lattice_flows.dft.gpaw_jobs import GPAWRelaxMaker

    if isinstance(maker, MLPRelaxMaker):
        return maker.model
    if isinstance(maker, GPAWRelaxMaker):
        return f"gpaw-{maker.settings.xc}"
    # DoubleRelaxMaker or one VASP maker
    generator = getattr(getattr(maker, "relax_maker1", maker), "input_set_generator", None)
    if generator is None:
        return type(maker).__name__
    gga = (generator.user_incar_settings or {}).get("GGA", "PE")
    return "vasp-" + {"PE": "PBE", "PS": "PBEsol"}.get(gga, gga)


# Far below the 0.5-1 % strains (~0.03 A on a 5 A cell): the deformed cell keeps its own, lower symmetry and is
# never snapped back to the undeformed one (atomate2's default tolerance, 1e-2 A, is near that size).
STRAINED_SYMPREC = 1e-5


def mlp_elastic_maker(model: str = SETTINGS.default_model, fmax: float = 1e-4) -> ElasticMaker:
    """The elastic flow for one MLP: a tight re-relaxation of the screened cell (its stress is the reference the
    fit subtracts), then the ionic relaxation of every symmetry-distinct strained cell."""
    from atomate2.forcefields.flows.elastic import ElasticMaker

    bulk = MLPRelaxMaker(name="mlp elastic bulk relax", model=model, relax_kwargs={"fmax": fmax})
    strained = MLPRelaxMaker(
        name="mlp elastic relax",
        model=model,
        relax_cell=False,
        symprec=STRAINED_SYMPREC,
        relax_kwargs={"fmax": fmax},
    )
    return ElasticMaker(name="mlp elastic", bulk_relax_maker=bulk, elastic_relax_maker=strained)
