"""The phonon step for many structures in one job: the same seeded random-displacement supercells as
``jobs.mlp_phonons``, their forces from one batched torch-sim model call per displacement step
(``batched_forces``), then the same fit, stability screen and descriptors per structure. Meant for a GPU worker,
where a step over a campaign's structures costs about what one supercell does."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Job, Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from na_lattice_flows.checks import check_range
from na_lattice_flows.errors import InputError
from na_lattice_flows.models import TORCHSIM_FAMILIES, get_torchsim_model, resolve_model
from na_lattice_flows.phonons.batched_forces import batched_forces
from na_lattice_flows.phonons.jobs import MLPPhononMaker, phonon_document
from na_lattice_flows.phonons.references import (
    ase_atoms,
    displaced_atoms,
    random_displacements,
    reference_with_forces,
    without_residual,
)
from na_lattice_flows.phonons.schemas import PhononDocument
from na_lattice_flows.routing import GPU, worker
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.structure.supercells import paper_supercell


class PhononBatchDocument(BaseModel):
    """A batched phonon job's results in the order of its structures: each a document, or why there is none."""

    candidate_ids: list[str]
    documents: list[PhononDocument | None] = Field(
        description="None where that structure failed (see errors)"
    )
    errors: list[str | None]
    max_atoms_per_call: int | None = None


def _failure(candidate_id: str, exc: Exception) -> str:
    return f"{candidate_id}: {type(exc).__name__}: {exc}"


@job(
    data=["force_constants", "effective_force_constants", "mode_data"],
    output_schema=PhononBatchDocument,
)
@worker(GPU)
def mlp_phonons_batch(
    structures: list[Structure | None],
    candidate_ids: list[str],
    model: str,
    n_supercells: int,
    amplitude_A: float,
    seed: int,
    fc_method: str,
    temperature_K: float,
    low_freq_cutoff_thz: float,
    min_supercell_atoms: int,
    max_atoms_per_call: int | None = None,
    stability: str = "harmonic",
) -> PhononBatchDocument:
    """One structure that is missing (None), cannot be set up or cannot be fitted is recorded in ``errors``; the
    others go on."""
    errors: list[str | None] = [None] * len(structures)
    displacements = {}  # structure index -> phonopy object with its displaced supercells
    for index, (structure, candidate_id) in enumerate(zip(structures, candidate_ids, strict=True)):
        if structure is None:  # its relaxation failed (a batch in a campaign runs without it)
            errors[index] = f"{candidate_id}: no relaxed structure (its relaxation failed)"
            continue
        try:
            matrix = paper_supercell(structure, min_supercell_atoms).supercell_matrix
            displacements[index] = random_displacements(
                structure, matrix, n_supercells, amplitude_A, seed
            )
        except Exception as exc:  # noqa: BLE001  (any failure of one structure is that structure's, named in its record)
            errors[index] = _failure(candidate_id, exc)
    # each structure's undisplaced supercell last: its forces are taken off (``without_residual``), as the
    # per-structure job does
    forces = batched_forces(
        [[*displaced_atoms(ph), ase_atoms(ph.supercell)] for ph in displacements.values()],
        get_torchsim_model(model),
        max_atoms_per_call,
        progress=True,
    )
    documents: list[PhononDocument | None] = [None] * len(structures)
    for (index, ph), structure_forces in zip(displacements.items(), forces, strict=True):
        candidate_id = candidate_ids[index]
        try:
            reference = reference_with_forces(
                ph, without_residual(structure_forces), candidate_id, amplitude_A, seed
            )
            documents[index] = phonon_document(
                reference,
                structures[index],
                candidate_id,
                model,
                amplitude_A,
                fc_method,
                temperature_K,
                low_freq_cutoff_thz,
                stability=stability,
            )
        except Exception as exc:  # noqa: BLE001
            errors[index] = _failure(candidate_id, exc)
    return PhononBatchDocument(
        candidate_ids=candidate_ids,
        documents=documents,
        errors=errors,
        max_atoms_per_call=max_atoms_per_call,
    )


@dataclass
class BatchedPhononMaker(Maker):
    """``phonons``' step (an ``MLPPhononMaker``: supercells, amplitude, seed, fit, temperature) for many
    structures in one job, forces by one batched call per displacement step, at most ``max_atoms_per_call``
    atoms per call when set (a step larger than the device holds is split). The model must have a torch-sim
    wrapper (SevenNet, UMA); third-order constants are left to the per-structure job."""

    name: str = "batched mlp phonons"
    phonons: MLPPhononMaker = field(
        default_factory=lambda: MLPPhononMaker(model=SETTINGS.batched_model)
    )
    max_atoms_per_call: int | None = None

    def __post_init__(self) -> None:
        family = resolve_model(self.phonons.model).family
        if family not in TORCHSIM_FAMILIES:
            raise InputError(
                f"model {self.phonons.model!r} ({family}): batched phonons need a torch-sim model ({', '.join(TORCHSIM_FAMILIES)})"
            )
        if self.phonons.third_order_method is not None:
            raise InputError(
                "batched phonons fit second order only: use MLPPhononMaker for third-order force constants"
            )
        if self.max_atoms_per_call is not None:
            check_range("max_atoms_per_call", self.max_atoms_per_call, at_least=1)

    def make(self, structures: list[Structure], candidate_ids: list[str]) -> Job:
        """One job computing the phonon forces of all ``structures`` in batched model calls."""
        if len(structures) != len(candidate_ids):
            raise ValueError(f"{len(structures)} structures but {len(candidate_ids)} candidate ids")
        p = self.phonons
        batch = mlp_phonons_batch(
            structures,
            candidate_ids,
            p.model,
            p.n_supercells,
            p.amplitude_A,
            p.seed,
            p.fc_method,
            p.temperature_K,
            p.low_freq_cutoff_thz,
            p.min_supercell_atoms,
            self.max_atoms_per_call,
            p.stability,
        )
        batch.name = f"{self.name} ({len(structures)} structures)"
        return batch
