"""Flow Makers: the per-structure screening flow that later steps (phonons, MD) extend."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker

from na_lattice_flows.candidates.loaders import Candidate
from na_lattice_flows.checks import check_range
from na_lattice_flows.errors import InputError
from na_lattice_flows.md.jobs import MLPMDMaker, md_gate
from na_lattice_flows.md.settings import md_settings
from na_lattice_flows.phonons.jobs import CommitteeMaker, MLPPhononMaker
from na_lattice_flows.relax.jobs import MLPRelaxMaker, relax_method
from na_lattice_flows.structure.supercells import DEFAULT_MIN_ATOMS
from na_lattice_flows.workflow.names import SUMMARY_JOB_NAME
from na_lattice_flows.workflow.schemas import Provenance
from na_lattice_flows.workflow.summary import summarize_screening


@dataclass
class ScreeningFlowMaker(Maker):
    """Relax one candidate (with an MLP by default; ``GPAWRelaxMaker`` or atomate2's VASP DoubleRelaxMaker for
    DFT), compute its phonons and descriptors with an MLP, run MD on it when it is dynamically stable, and record
    it all with its paper supercell. ``phonon_maker=None`` or ``md_maker=None`` leave out that step (without
    phonons, MD runs unconditionally); ``elastic_maker`` (``relax.jobs.mlp_elastic_maker``) adds the elastic moduli."""

    name: str = "na screening"
    relax_maker: Maker = field(default_factory=MLPRelaxMaker)
    phonon_maker: MLPPhononMaker | None = field(default_factory=MLPPhononMaker)
    md_maker: MLPMDMaker | None = field(default_factory=MLPMDMaker)
    elastic_maker: Maker | None = None
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    # added in 0.3; left out of the settings fingerprint while None (candidates.fingerprints), so that the
    # campaigns of earlier releases keep theirs
    committee_maker: CommitteeMaker | None = None
    # added in 0.5, left out of the fingerprint while False: MD for the structures the screen calls unstable
    # too (a campaign's known conductors, whose Na the harmonic picture cannot hold), to check the gate
    md_on_unstable: bool = False

    def __post_init__(self) -> None:
        check_range("min_supercell_atoms", self.min_supercell_atoms, at_least=1)
        if self.md_on_unstable and self.md_maker is None:
            raise InputError("md_on_unstable (--md-on-unstable) needs the MD step")
        if self.committee_maker is not None and self.phonon_maker is None:
            raise InputError(
                "a stability committee needs the phonon step (its verdict is the committee's first member)"
            )

    def provenance(self) -> Provenance:
        """How the flow's numbers are made (models, fits, MD settings), for the results' provenance
        columns."""
        phonon, md = self.phonon_maker, self.md_maker
        settings = md_settings(md.preset, **md.overrides) if md is not None else None
        return Provenance(
            relax_method=relax_method(self.relax_maker),
            relax_optimizer=(getattr(self.relax_maker, "optimizer_kwargs", None) or {}).get(
                "optimizer"
            ),
            phonon_model=phonon.model if phonon else None,
            fc_method=phonon.fc_method if phonon else None,
            phonon_temperature_K=phonon.temperature_K if phonon else None,
            phonon_stability=phonon.stability if phonon else None,
            md_model=md.model if md else None,
            md_engine=md.engine if md else None,
            md_preset=md.preset if md else None,
            md_timestep_fs=settings.timestep_fs if settings else None,
            md_production_ps=settings.n_production_steps * settings.timestep_fs / 1000
            if settings
            else None,
            md_friction_per_ps=settings.friction_per_fs * 1000 if settings else None,
            elastic_model=getattr(
                getattr(self.elastic_maker, "elastic_relax_maker", None), "model", None
            ),
            committee_models=", ".join(self.committee_maker.models)
            if self.committee_maker
            else None,
            md_on_unstable=self.md_on_unstable or None,
        )

    def make(self, candidate: Candidate) -> Flow:
        """The screening flow of one candidate."""
        relax = self.relax_job(candidate)
        phonons = (
            self.phonon_maker.make(relax.output.structure, candidate.candidate_id)
            if self.phonon_maker is not None
            else None
        )
        return self.flow_after_relax(candidate, relax, phonons)

    def relax_job(self, candidate: Candidate) -> Job | Flow:
        """The candidate's relaxation, named for it: a Job (MLP, GPAW) or a Flow (VASP double
        relax)."""
        relax = self.relax_maker.make(candidate.structure)
        relax.name = f"{self.relax_maker.name} {candidate.candidate_id}"
        return relax

    def flow_after_relax(
        self, candidate: Candidate, relax: Job | Flow, phonons: Job | None
    ) -> Flow:
        """The candidate's flow from its relaxation and its phonon job (one whose output is a ``PhononDocument``;
        None without phonons): elastic moduli, the MD gate and the summary follow."""
        jobs = [relax]
        descriptors = stability = transport = None
        if phonons is not None:
            jobs.append(phonons)
            descriptors, stability = phonons.output.descriptors, phonons.output.stability
        elastic = None
        if self.elastic_maker is not None:
            moduli = self.elastic_maker.make(relax.output.structure)
            jobs.append(moduli)
            elastic = moduli.output
        committee = None
        if self.committee_maker is not None and phonons is not None:
            committee_job = self.committee_maker.make(
                relax.output.structure, candidate.candidate_id
            )
            jobs.append(committee_job)
            committee = committee_job.output
        if self.md_maker is not None:
            gate = md_gate(
                self.md_maker,
                None if self.md_on_unstable else stability,
                relax.output.structure,
                candidate.candidate_id,
            )
            jobs.append(gate)
            transport = gate.output
        summary = summarize_screening(
            candidate_id=candidate.candidate_id,
            input_structure=candidate.structure,
            relaxation=relax.output,
            model=relax_method(self.relax_maker),
            source=candidate.source,
            band_gap_eV=candidate.band_gap_eV,
            formation_energy_eV_per_atom=candidate.formation_energy_eV_per_atom,
            min_supercell_atoms=self.min_supercell_atoms,
            phonons=descriptors,
            transport=transport,
            elastic=elastic,
            committee=committee,
            committee_margin_thz=self.committee_maker.margin_thz if self.committee_maker else None,
            flow_maker=self,
        )
        summary.name = SUMMARY_JOB_NAME
        flow = Flow(
            [*jobs, summary], output=summary.output, name=f"{self.name} {candidate.candidate_id}"
        )
        flow.update_metadata({"candidate_id": candidate.candidate_id, "formula": candidate.formula})
        return flow
