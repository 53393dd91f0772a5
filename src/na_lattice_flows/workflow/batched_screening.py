"""Screening flows for a group of candidates whose phonon forces come from one batched job (``na-flows submit
--phonon-batch N``): each candidate keeps its own relaxation, MD gate and summary, as in ``ScreeningFlowMaker``;
their relaxed cells meet in one ``mlp_phonons_batch`` job (a GPU worker's: one torch-sim call per displacement
step over the group), and a light job per candidate hands its part on. A relaxation that fails leaves its
candidate out of the batch (named in the batch's errors and in that candidate's row), not the others."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Maker, OnMissing, job
from pydantic import BaseModel

from na_lattice_flows.candidates.loaders import Candidate
from na_lattice_flows.errors import InputError
from na_lattice_flows.phonons.batched_jobs import BatchedPhononMaker, PhononBatchDocument
from na_lattice_flows.phonons.descriptors import PhononDescriptors
from na_lattice_flows.phonons.stability import StabilityVerdict
from na_lattice_flows.workflow.screening import ScreeningFlowMaker


class PhononBatchMember(BaseModel):
    """One candidate's part of a batched phonon job: what its MD gate and summary read (its force constants and
    mode data stay in the batch job's document, in the data store)."""

    candidate_id: str
    stability: StabilityVerdict
    descriptors: PhononDescriptors


class PhononBatchMemberError(RuntimeError):
    """The batched phonon job has no document for this candidate (the reason is the batch's)."""


@job(output_schema=PhononBatchMember)
def phonon_batch_member(batch: PhononBatchDocument | dict, index: int) -> PhononBatchMember:
    """The phonon output of member ``index`` of a batch; a member that failed raises with its error."""
    batch = PhononBatchDocument.model_validate(batch)
    document = batch.documents[index]
    if document is None:
        raise PhononBatchMemberError(f"batched phonons: {batch.errors[index]}")
    return PhononBatchMember(
        candidate_id=document.candidate_id,
        stability=document.stability,
        descriptors=document.descriptors,
    )


@dataclass
class BatchedScreeningFlowMaker(Maker):
    """``screening``'s flow for each of a group of candidates, with their phonons from one batched job (its phonon
    settings; the model needs a torch-sim wrapper, second order only). The same physics as ``screening`` one
    candidate at a time, so a campaign records it under ``screening``'s settings fingerprint."""

    name: str = "na screening batch"
    screening: ScreeningFlowMaker = field(default_factory=ScreeningFlowMaker)
    max_atoms_per_call: int | None = None

    def __post_init__(self) -> None:
        if self.screening.phonon_maker is None:
            raise InputError("batched phonons need the phonon step: a screening maker with phonons")
        self.batch_maker = BatchedPhononMaker(
            phonons=self.screening.phonon_maker, max_atoms_per_call=self.max_atoms_per_call
        )

    def make(self, candidates: list[Candidate]) -> Flow:
        """The workflow of ``candidates``: their relaxations, one batched phonon job, then each
        one's flow."""
        relaxations = [self.screening.relax_job(candidate) for candidate in candidates]
        ids = [candidate.candidate_id for candidate in candidates]
        batch = self.batch_maker.make([relax.output.structure for relax in relaxations], ids)
        # a failed relaxation: None in its place, the rest go on
        batch.config.on_missing_references = OnMissing.NONE
        flows = []
        for index, (candidate, relax) in enumerate(zip(candidates, relaxations, strict=True)):
            member = phonon_batch_member(batch.output, index)
            member.name = f"phonons of {candidate.candidate_id}"
            flows.append(self.screening.flow_after_relax(candidate, relax, member))
        return Flow([batch, *flows], name=f"{self.name} of {len(candidates)}: {ids[0]} ...")
