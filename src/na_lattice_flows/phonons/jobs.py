"""The phonon step of the screening flow: the paper's random-displacement supercells with forces from the MLP,
second-order force constants (symfc by default, pheasy/hiphive selectable), optionally third order on the same
supercells, the dynamic-stability screen and the lattice-dynamics descriptors; with ``stability`` =
"finite-temperature", a structure the harmonic screen calls unstable is judged again on its effective phonons at
the descriptors' temperature (``finite_temperature``), and its descriptors come from them. Force constants and
per-mode data go to the JobStore's ``data`` store."""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import Job, Maker, job
from pymatgen.core import Structure

from na_lattice_flows import __version__
from na_lattice_flows.checks import check_range
from na_lattice_flows.errors import InputError
from na_lattice_flows.models import get_calculator, model_provenance, resolve_model
from na_lattice_flows.phonons.committee import DEFAULT_MARGIN_THZ, member_verdict
from na_lattice_flows.phonons.descriptors import (
    DEFAULT_LOW_FREQ_CUTOFF_THZ,
    DEFAULT_TEMPERATURE_K,
    phonon_descriptors,
)
from na_lattice_flows.phonons.finite_temperature import (
    FINITE_TEMPERATURE,
    HARMONIC,
    STABILITY_METHODS,
    EffectivePhononSettings,
    lowest_frequency_off_translations,
    stability_at_temperature,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants, fit_third_order
from na_lattice_flows.phonons.references import (
    DisplacementReference,
    predict_forces,
    random_displacement_reference,
)
from na_lattice_flows.phonons.schemas import PhononDocument
from na_lattice_flows.phonons.stability import record_verdict, stability_screen
from na_lattice_flows.routing import GPU, worker
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.structure.descriptors import structure_descriptors
from na_lattice_flows.structure.supercells import DEFAULT_MIN_ATOMS, paper_supercell

MAX_FC3_BYTES = 2 * 1024**3


def check_third_order_size(n_primitive: int, n_supercell: int, candidate_id: str) -> None:
    """Compact third-order force constants hold n_primitive x n_supercell^2 x 27 numbers: refuse, before any
    force is computed, a supercell whose fc3 would not fit a worker's memory as a stored list (> 2 GiB float64)."""
    n_bytes = n_primitive * n_supercell**2 * 27 * 8
    if n_bytes > MAX_FC3_BYTES:
        raise InputError(
            f"{candidate_id}: third-order force constants of a {n_supercell}-atom supercell of a {n_primitive}-atom cell "
            f"would take {n_bytes / 1024**3:.1f} GiB (limit {MAX_FC3_BYTES / 1024**3:.0f} GiB); fit second order only for it"
        )


PHONON_DATA = ["force_constants", "effective_force_constants", "force_constants_3rd", "mode_data"]


@job(data=PHONON_DATA, output_schema=PhononDocument)
@worker(GPU)
def mlp_phonons(
    structure: Structure,
    candidate_id: str,
    model: str,
    n_supercells: int,
    amplitude_A: float,
    seed: int,
    fc_method: str,
    temperature_K: float,
    low_freq_cutoff_thz: float,
    min_supercell_atoms: int,
    third_order_method: str | None = None,
    third_order_cutoff_A: float = 5.0,
    stability: str = HARMONIC,
) -> PhononDocument:
    """The phonon job of workflows submitted before 0.5 (the Maker's fields as arguments); new flows carry their
    ``MLPPhononMaker`` (its ``make`` is the job)."""
    maker = MLPPhononMaker(
        model=model,
        n_supercells=n_supercells,
        amplitude_A=amplitude_A,
        seed=seed,
        fc_method=fc_method,
        temperature_K=temperature_K,
        low_freq_cutoff_thz=low_freq_cutoff_thz,
        min_supercell_atoms=min_supercell_atoms,
        third_order_method=third_order_method,
        third_order_cutoff_A=third_order_cutoff_A,
        stability=stability,
    )
    return maker.phonons(structure, candidate_id)


def phonon_document(
    reference: DisplacementReference,
    structure: Structure,
    candidate_id: str,
    model: str,
    amplitude_A: float,
    fc_method: str,
    temperature_K: float,
    low_freq_cutoff_thz: float,
    third_order_method: str | None = None,
    third_order_cutoff_A: float = 5.0,
    stability: str = HARMONIC,
) -> PhononDocument:
    """Force constants fitted to ``reference``, the stability screen and the descriptors: what the phonon step
    records, whichever way its forces were computed (one structure per job, or batched). ``stability``
    "finite-temperature": a harmonically unstable structure is judged, and described, at ``temperature_K``."""
    # ph: with the sum rules if applied
    harmonic, ph = stability_screen(fit_force_constants(reference, method=fc_method))
    verdict, described, effective = harmonic, ph, None
    if stability == FINITE_TEMPERATURE and not harmonic.dynamically_stable:
        # seeded: a rerun draws the same supercells
        settings = EffectivePhononSettings(temperature_K=temperature_K)
        verdict, described, effective = stability_at_temperature(
            ph, harmonic, get_calculator(model), settings
        )
    descriptors, mode_data = phonon_descriptors(
        described, temperature_k=temperature_K, low_freq_cutoff_thz=low_freq_cutoff_thz
    )
    record_verdict(descriptors, verdict)
    descriptors.harmonically_stable = harmonic.dynamically_stable
    descriptors.stability_method = HARMONIC if verdict is harmonic else FINITE_TEMPERATURE
    descriptors.min_effective_frequency_thz = (
        lowest_frequency_off_translations(described) if effective is not None else None
    )
    descriptors.descriptors_from = (
        f"effective at {temperature_K:g} K" if effective is not None else HARMONIC
    )
    descriptors.stability_code_version = __version__
    fc3 = None
    if third_order_method is not None:
        fc3 = fit_third_order(
            reference, method=third_order_method, cutoff_A=third_order_cutoff_A
        ).tolist()
    return PhononDocument(
        candidate_id=candidate_id,
        formula=structure.composition.reduced_formula,
        model=model,
        model_provenance=model_provenance(model),
        fc_method=fc_method,
        supercell_matrix=reference.supercell_matrix,
        primitive_matrix=ph.primitive_matrix.tolist(),
        n_supercells=len(reference.forces),
        amplitude_A=amplitude_A,
        stability=verdict,
        harmonic_stability=harmonic if verdict is not harmonic else None,
        effective_phonons=effective,
        effective_force_constants=described.force_constants.tolist()
        if effective is not None
        else None,
        descriptors=descriptors,
        structure_descriptors=structure_descriptors(structure),
        force_constants=ph.force_constants.tolist(),
        third_order_method=third_order_method,
        force_constants_3rd=fc3,
        mode_data=mode_data,
    )


@dataclass
class MLPPhononMaker(Maker):
    """Phonons of a relaxed structure from MLP forces on random-displacement supercells (paper §2.5):
    30 supercells of >= 80 atoms, every atom displaced 0.03 A, seeded; descriptors at 800 K.
    ``third_order_method`` (symfc, hiphive or pheasy) adds third-order force constants from the same supercells,
    triplets within ``third_order_cutoff_A``; off by default because no descriptor needs them and they are
    the largest output (compact fc3 of a 200-atom supercell with 8 primitive atoms: 8.6 M numbers).
    ``stability`` "finite-temperature" judges a harmonically unstable structure on its effective phonons at
    ``temperature_K`` (about 10-20 times the harmonic step's force evaluations, for those structures only)."""

    name: str = "mlp phonons"
    model: str = SETTINGS.default_model
    n_supercells: int = SETTINGS.phonon_supercells
    amplitude_A: float = SETTINGS.displacement_amplitude_A
    seed: int = 0
    fc_method: str = SETTINGS.fc_method
    temperature_K: float = DEFAULT_TEMPERATURE_K
    low_freq_cutoff_thz: float = DEFAULT_LOW_FREQ_CUTOFF_THZ
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    third_order_method: str | None = None
    third_order_cutoff_A: float = 5.0
    stability: str = HARMONIC  # added in 0.4: left out of the settings fingerprint while harmonic

    def __post_init__(self) -> None:
        self.model = resolve_model(self.model).name
        if self.stability not in STABILITY_METHODS:
            raise InputError(
                f"stability {self.stability!r}: choose from {', '.join(STABILITY_METHODS)}"
            )
        check_range("n_supercells", self.n_supercells, at_least=1)
        check_range("amplitude_A", self.amplitude_A, above=0, unit="A")
        check_range("temperature_K", self.temperature_K, above=0, unit="K")
        check_range("low_freq_cutoff_thz", self.low_freq_cutoff_thz, above=0, unit="THz")
        check_range("min_supercell_atoms", self.min_supercell_atoms, at_least=1)
        check_range("third_order_cutoff_A", self.third_order_cutoff_A, above=0, unit="A")

    def make(self, structure: Structure, candidate_id: str) -> Job:
        """The phonon job of ``structure``, named for the candidate; it carries this Maker, so that
        ``Flow.update_maker_kwargs(..., name_filter="mlp phonons")`` reaches its settings."""
        phonons = self.phonon_job(structure, candidate_id)
        phonons.name = f"{self.name} {candidate_id}"
        return phonons

    @job(data=PHONON_DATA, output_schema=PhononDocument)
    @worker(GPU)
    def phonon_job(self, structure: Structure, candidate_id: str) -> PhononDocument:
        """The job: ``phonons`` on a worker."""
        return self.phonons(structure, candidate_id)

    def phonons(self, structure: Structure, candidate_id: str) -> PhononDocument:
        """The phonon document of ``structure`` with this Maker's settings (no job)."""
        supercell = paper_supercell(structure, self.min_supercell_atoms)
        if self.third_order_method is not None:
            check_third_order_size(len(structure), supercell.n_atoms, candidate_id)
        calculator = get_calculator(self.model)
        reference = random_displacement_reference(
            structure,
            supercell.supercell_matrix,
            lambda supercells: predict_forces(
                supercells, calculator, progress=True, label=f"{self.model} forces"
            ),
            name=candidate_id,
            n_supercells=self.n_supercells,
            amplitude_A=self.amplitude_A,
            seed=self.seed,
            remove_residual_forces=True,  # since 0.7.0
        )
        return phonon_document(
            reference,
            structure,
            candidate_id,
            self.model,
            self.amplitude_A,
            self.fc_method,
            self.temperature_K,
            self.low_freq_cutoff_thz,
            self.third_order_method,
            self.third_order_cutoff_A,
            self.stability,
        )


@job
@worker(GPU)
def committee_phonons(
    structure: Structure,
    candidate_id: str,
    models: list[str],
    n_supercells: int,
    amplitude_A: float,
    seed: int,
    fc_method: str,
    min_supercell_atoms: int,
) -> dict:
    """The committee job of workflows submitted before 0.5 (the Maker's fields as arguments)."""
    maker = CommitteeMaker(
        models=tuple(models),
        n_supercells=n_supercells,
        amplitude_A=amplitude_A,
        seed=seed,
        fc_method=fc_method,
        min_supercell_atoms=min_supercell_atoms,
    )
    return maker.verdicts(structure, candidate_id)


@dataclass
class CommitteeMaker(Maker):
    """More force fields on the screen's stability verdict: each model's phonons on the same supercells as the
    screen's (same count, amplitude and seed), and a structure they disagree on is flagged "disputed" (the
    screen's own model is the committee's first member; the summary compares them)."""

    name: str = "committee phonons"
    models: tuple[str, ...] = ()
    margin_thz: float = DEFAULT_MARGIN_THZ
    n_supercells: int = SETTINGS.phonon_supercells
    amplitude_A: float = SETTINGS.displacement_amplitude_A
    seed: int = 0
    fc_method: str = SETTINGS.fc_method
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS

    def __post_init__(self) -> None:
        if not self.models:
            raise InputError("a committee needs at least one model beside the screen's")
        self.models = tuple(resolve_model(model).name for model in self.models)
        check_range("margin_thz", self.margin_thz, above=0, unit="THz")
        check_range("n_supercells", self.n_supercells, at_least=1)

    def make(self, structure: Structure, candidate_id: str) -> Job:
        """The committee job of ``structure``, named for the candidate; it carries this Maker."""
        committee = self.committee_job(structure, candidate_id)
        committee.name = f"{self.name} {candidate_id}"
        return committee

    @job
    @worker(GPU)
    def committee_job(self, structure: Structure, candidate_id: str) -> dict:
        """The job: ``verdicts`` on a worker."""
        return self.verdicts(structure, candidate_id)

    def verdicts(self, structure: Structure, candidate_id: str) -> dict:
        """The stability verdict of each committee model on the screen's relaxed cell (``phonons.committee``); a
        model that fails is named in ``errors`` and the others still count."""
        matrix = paper_supercell(structure, self.min_supercell_atoms).supercell_matrix
        members, errors = [], {}
        for model in self.models:
            try:
                calculator = get_calculator(model)
                members.append(
                    member_verdict(
                        structure,
                        matrix,
                        model,
                        calculator,
                        self.n_supercells,
                        self.amplitude_A,
                        self.seed,
                        self.fc_method,
                    ).model_dump()
                )
            except Exception as exc:  # noqa: BLE001 - one model that cannot run leaves the rest of the committee
                errors[model] = f"{type(exc).__name__}: {exc}"
        return {"candidate_id": candidate_id, "members": members, "errors": errors}
