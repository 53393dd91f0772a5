"""Job Makers of the screening flow. Physics lives in small pure functions (``supercells``, ``screening``);
these wrap it into jobflow jobs whose outputs are the documents in ``schemas``."""

from __future__ import annotations

from dataclasses import dataclass, field

from atomate2.forcefields.jobs import ForceFieldRelaxMaker
from jobflow import job
from pydantic import BaseModel
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from na_lattice_flows.elastic import elastic_summary
from na_lattice_flows.models import resolve_model
from na_lattice_flows.phonons import PhononDescriptors
from na_lattice_flows.schemas import Provenance, ScreeningDocument
from na_lattice_flows.structure_descriptors import structure_descriptors
from na_lattice_flows.supercells import DEFAULT_MIN_ATOMS, paper_supercell

DEFAULT_MODEL = "chgnet"  # weights ship in the chgnet package and it runs well on CPU
REGISTRY_CALCULATOR = {"@module": "na_lattice_flows.models", "@callable": "get_calculator"}


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
    model: str = DEFAULT_MODEL
    relax_cell: bool = True
    fix_symmetry: bool = True
    steps: int = 1000
    relax_kwargs: dict = field(default_factory=lambda: {"fmax": 0.01})

    def __post_init__(self) -> None:
        self.model = resolve_model(self.model).name  # unknown names fail here, at submission
        self.force_field_name = REGISTRY_CALCULATOR
        self.calculator_kwargs = {**self.calculator_kwargs, "name": self.model}
        super().__post_init__()


@dataclass(frozen=True)
class RelaxationOutcome:
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
    structure = Structure.from_dict(document["structure"]) if isinstance(document["structure"], dict) else document["structure"]
    if "is_force_converged" in document:  # ForceFieldTaskDocument
        return RelaxationOutcome(structure, document["output"]["energy_per_atom"], document["is_force_converged"], document["output"].get("n_steps"))
    if "energy_per_atom_eV" in document:  # GPAWTaskDocument
        return RelaxationOutcome(structure, document["energy_per_atom_eV"], document["converged"], document["n_steps"])
    if "calcs_reversed" in document:  # VASP TaskDoc: custodian finished it and VASP reached EDIFFG
        ionic_steps = (document["calcs_reversed"][0].get("output") or {}).get("ionic_steps") or []
        return RelaxationOutcome(structure, document["output"]["energy_per_atom"], str(document.get("state")).lower().endswith("successful"), len(ionic_steps) or None)
    raise ValueError(f"relaxation output with fields {sorted(document)[:8]}...: not a force-field, GPAW or VASP task document")


def relax_method(maker) -> str:
    """How a relax step computes energies, for the record: the MLP's registry name, or the DFT code and functional."""
    from na_lattice_flows.gpaw_jobs import GPAWRelaxMaker

    if isinstance(maker, MLPRelaxMaker):
        return maker.model
    if isinstance(maker, GPAWRelaxMaker):
        return f"gpaw-{maker.settings.xc}"
    generator = getattr(getattr(maker, "relax_maker1", maker), "input_set_generator", None)  # DoubleRelaxMaker or one VASP maker
    if generator is None:
        return type(maker).__name__
    gga = (generator.user_incar_settings or {}).get("GGA", "PE")
    return "vasp-" + {"PE": "PBE", "PS": "PBEsol"}.get(gga, gga)


def _space_group(structure: Structure) -> str:
    return SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_symbol()


@job(output_schema=ScreeningDocument)
def summarize_screening(
    candidate_id: str,
    input_structure: Structure,
    relaxation: dict | BaseModel,
    model: str,
    source: str | None = None,
    band_gap_eV: float | None = None,
    formation_energy_eV_per_atom: float | None = None,
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS,
    phonons: PhononDescriptors | dict | None = None,
    transport: dict | None = None,
    provenance: Provenance | None = None,
    elastic: dict | BaseModel | None = None,
) -> ScreeningDocument:
    """Collect a structure's screening record, its structural descriptors and its supercell from the relaxed cell."""
    relaxed = relaxation_outcome(relaxation)
    relaxed_structure = relaxed.structure
    supercell = paper_supercell(relaxed_structure, min_atoms=min_supercell_atoms)
    return ScreeningDocument(
        candidate_id=candidate_id,
        formula=relaxed_structure.composition.reduced_formula,
        source=source,
        band_gap_eV=band_gap_eV,
        formation_energy_eV_per_atom=formation_energy_eV_per_atom,
        model=model,
        relaxed_structure=relaxed_structure,
        energy_per_atom_eV=relaxed.energy_per_atom_eV,
        relax_converged=relaxed.converged,
        relax_steps=relaxed.n_steps,
        volume_change_percent=100.0 * (relaxed_structure.volume / input_structure.volume - 1.0),
        space_group_input=_space_group(input_structure),
        space_group_relaxed=_space_group(relaxed_structure),
        supercell_matrix=supercell.supercell_matrix,
        supercell_n_atoms=supercell.n_atoms,
        supercell_length_ratio=supercell.length_ratio,
        structure_descriptors=structure_descriptors(relaxed_structure),
        phonons=phonons,
        transport=transport,
        elastic=elastic_summary(elastic),
        provenance=provenance,
    )
