"""The Python API: the flows that the command line and ``flows/`` submit, returned for users who compose their
own (add jobs, change a Maker's settings, submit with ``execution.submission.add_flow`` or run with ``run_locally``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jobflow import Flow
from pymatgen.core import Structure

from na_lattice_flows.candidates.loaders import LoadResult, load_candidates
from na_lattice_flows.candidates.screen import ScreeningCriteria, ScreeningReport, screen_candidates
from na_lattice_flows.errors import InputError, MissingInputError
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.workflow.options import ScreeningOptions, screening_options
from na_lattice_flows.workflow.screening import ScreeningFlowMaker


def screening_maker(options: ScreeningOptions | None = None, **fields) -> ScreeningFlowMaker:
    """The per-structure screening Maker from ``options`` (``workflow.options.ScreeningOptions``), or from its
    fields as keywords (``screening_maker(model="chgnet", md_preset="short")``): relaxation by ``relax_engine``
    ('mlp' with ``model``, 'gpaw', or 'vasp' = atomate2's strict double relax through custodian), then phonons and
    MD with the MLP ``model``; ``elastic`` adds the elastic moduli with that MLP. ``md`` None: MD with phonons
    (dynamically stable structures only), none without them; ``md=True`` without phonons runs MD on every
    structure. ``stability`` "finite-temperature": harmonically unstable structures are judged on their
    effective phonons at ``temperature_K``. ``committee``: more models whose stability verdicts on the same
    supercells flag a structure "disputed" where they differ."""
    from na_lattice_flows.md.jobs import MLPMDMaker
    from na_lattice_flows.phonons.jobs import MLPPhononMaker
    from na_lattice_flows.relax.jobs import MLPRelaxMaker

    o = screening_options(options, **fields)
    if o.relax_engine == "mlp":
        # FIRE is atomate2's own default: left unset, so that the settings fingerprint of earlier campaigns holds
        optimizer = {} if o.relax_optimizer == "FIRE" else {"optimizer": o.relax_optimizer}
        relax = MLPRelaxMaker(
            model=o.model, relax_kwargs={"fmax": o.fmax}, optimizer_kwargs=optimizer
        )
    elif o.relax_engine == "gpaw":
        from na_lattice_flows.dft.gpaw_jobs import GPAWRelaxMaker

        relax = GPAWRelaxMaker(fmax_eV_per_A=o.fmax)
    else:
        from na_lattice_flows.dft.vasp_jobs import strict_double_relax_maker

        relax = strict_double_relax_maker(o.vasp_functional)
    phonon_maker = (
        MLPPhononMaker(
            model=o.model,
            n_supercells=o.phonon_supercells,
            fc_method=o.fc_method,
            temperature_K=o.temperature_K,
            min_supercell_atoms=o.min_supercell_atoms,
            third_order_method=o.third_order,
            stability=o.stability,
        )
        if o.phonons
        else None
    )
    temperatures = [float(t) for t in o.md_temperatures]
    md_maker = (
        MLPMDMaker(
            model=o.model,
            preset=o.md_preset,
            temperatures_K=temperatures,
            reference_temperature_K=SETTINGS.temperature_K
            if SETTINGS.temperature_K in temperatures
            else max(temperatures),
            overrides=o.md_step_overrides(),
            engine=o.md_engine,
            trajectory_dir=o.trajectory_dir and str(o.trajectory_dir),
            min_supercell_atoms=o.min_supercell_atoms,
        )
        if (o.phonons if o.md is None else o.md)
        else None
    )
    elastic_maker = None
    if o.elastic:
        from na_lattice_flows.relax.jobs import mlp_elastic_maker

        elastic_maker = mlp_elastic_maker(o.model)
    committee_maker = None
    if o.committee:
        from na_lattice_flows.phonons.jobs import CommitteeMaker

        if phonon_maker is None:
            raise InputError(
                "--committee needs the phonon step (it judges the phonons' stability verdict)"
            )
        margin = {} if o.committee_margin_thz is None else {"margin_thz": o.committee_margin_thz}
        committee_maker = CommitteeMaker(
            models=tuple(o.committee),
            n_supercells=o.phonon_supercells,
            fc_method=o.fc_method,
            min_supercell_atoms=o.min_supercell_atoms,
            **margin,
        )
    return ScreeningFlowMaker(
        relax_maker=relax,
        phonon_maker=phonon_maker,
        md_maker=md_maker,
        elastic_maker=elastic_maker,
        min_supercell_atoms=o.min_supercell_atoms,
        committee_maker=committee_maker,
        md_on_unstable=o.md_on_unstable,
    )


def screening_flows(
    inputs: Sequence[str | Path] | LoadResult,
    maker: ScreeningFlowMaker | None = None,
    criteria: ScreeningCriteria | None = None,
) -> tuple[dict[str, Flow], ScreeningReport]:
    """Load candidates (CSV, JSON, CIF/POSCAR files or folders, or an already loaded set), screen them and make
    one flow per accepted structure: ``({candidate_id: flow}, report)``; the report lists every drop and why."""
    loaded = (
        inputs
        if isinstance(inputs, LoadResult)
        else load_candidates([str(path) for path in inputs])
    )
    report = screen_candidates(loaded, criteria or ScreeningCriteria())
    maker = maker or screening_maker()
    return {candidate.candidate_id: maker.make(candidate) for candidate in report.accepted}, report


def benchmark_flow(references: Sequence[str | Path], models: Sequence[str]) -> Flow:
    """MLP vs DFT forces, force constants and stability on the displaced supercells of phononDB-style references."""
    from na_lattice_flows.benchmark.jobs import ForceBenchmarkMaker

    missing = [str(path) for path in references if not Path(path).exists()]
    if missing:
        raise MissingInputError(f"force benchmark: no such reference: {', '.join(missing)}")
    return ForceBenchmarkMaker(models=tuple(models)).make([str(path) for path in references])


def validation_flow(
    summaries: dict[str, dict],
    top: int = 5,
    engine: str = "vasp",
    temperature_K: float = SETTINGS.temperature_K,
    n_steps: int = 20_000,
    wall_time_s: int | None = None,
    trajectory_dir: str | Path | None = None,
    frame_models: Sequence[str] = (),
    n_frames: int = 200,
    seed: int = 0,
    dft_phonon_model: str | None = None,
) -> Flow:
    """AIMD (VASP Nose-Hoover or GPAW) of the ``top`` structures by MLP D among finished screening summaries
    (``execution.queries.summary_documents(session)``), each compared with its MLP MD; then, with
    ``frame_models``, those models on ``n_frames`` random frames of every AIMD run (force/energy/stress errors);
    with ``dft_phonon_model``, DFT phonons of each hit (30 random-displacement supercells, 0.03 A; VASP statics
    when ``engine`` is vasp, else GPAW) beside that model's on the same supercells (Na MSD at T, dispersions)."""
    from na_lattice_flows.benchmark.jobs import (
        FRAME_BENCHMARK_JOB_NAME,
        benchmark_trajectory_frames,
    )
    from na_lattice_flows.dft.gpaw_jobs import GPAWAIMDMaker
    from na_lattice_flows.dft.validation import AIMDValidationMaker, top_hits
    from na_lattice_flows.dft.vasp_jobs import VaspAIMDMaker

    hits = top_hits(summaries, top)
    maker = AIMDValidationMaker(
        engine=engine,
        vasp_maker=VaspAIMDMaker(
            temperature_K=temperature_K, n_steps=n_steps, wall_time_s=wall_time_s
        ),
        gpaw_maker=GPAWAIMDMaker(
            md_overrides={
                "temperature_K": temperature_K,
                "n_equilibration_steps": 0,
                "n_production_steps": n_steps,
            },
            trajectory_dir=trajectory_dir and str(trajectory_dir),
        ),
    )
    validation = maker.make(hits)
    extra = []
    if frame_models:
        frames = benchmark_trajectory_frames(validation.output, list(frame_models), n_frames, seed)
        frames.name = FRAME_BENCHMARK_JOB_NAME
        extra.append(frames)
    if dft_phonon_model:
        extra += dft_phonon_jobs(
            {hit.candidate_id: hit.structure for hit in hits},
            engine,
            dft_phonon_model,
            temperature_K,
        )
    return (
        Flow([validation, *extra], output=validation.output, name=validation.name)
        if extra
        else validation
    )


def dft_phonon_jobs(
    structures: dict[str, Structure], engine: str, model: str, temperature_K: float
) -> list:
    """DFT phonons of each structure (30 random-displacement supercells, 0.03 A; VASP statics when ``engine`` is
    vasp, else GPAW) and their comparison with ``model``'s on the same supercells."""
    from na_lattice_flows.benchmark.jobs import (
        DFT_PHONON_JOB_NAME,
        GPAWReferenceMaker,
        VaspReferenceMaker,
        compare_dft_phonons,
    )

    jobs = []
    for candidate_id, structure in structures.items():
        reference = (VaspReferenceMaker() if engine == "vasp" else GPAWReferenceMaker()).make(
            structure, candidate_id
        )
        comparison = compare_dft_phonons(reference.output, model, temperature_K)
        comparison.name = f"{DFT_PHONON_JOB_NAME} {candidate_id}"
        jobs += [reference, comparison]
    return jobs


def disputed_structures(summaries: dict[str, dict]) -> dict[str, Structure]:
    """The relaxed cells of the finished screening summaries whose committee disputes their stability."""
    disputed = {}
    for candidate_id, summary in summaries.items():
        if (summary.get("committee") or {}).get("disputed"):
            structure = summary["relaxed_structure"]
            disputed[candidate_id] = (
                structure if isinstance(structure, Structure) else Structure.from_dict(structure)
            )
    return disputed


def disputed_dft_phonons_flow(
    summaries: dict[str, dict],
    engine: str,
    model: str,
    temperature_K: float = SETTINGS.temperature_K,
) -> Flow:
    """DFT phonons of every disputed structure (the committee's; ``submit --committee``), no AIMD: the DFT
    verdict settles what the force fields disagree on."""
    structures = disputed_structures(summaries)
    if not structures:
        raise InputError(
            "no disputed structure among the finished screening flows (submit with --committee first)"
        )
    return Flow(
        dft_phonon_jobs(structures, engine, model, temperature_K),
        name=f"dft phonons of {len(structures)} disputed",
    )
