"""Which kind of worker runs which job: FireWorks categories on every job of a flow.

MLP work (relaxation, forces on displaced supercells, MD) is ``gpu``; DFT (VASP through custodian, GPAW) is
``cpu``; bookkeeping and analysis jobs carry no category and run on any worker. Workers choose by category
(``fworker_configs/``): a GPU worker takes ``[gpu, null]``, a CPU worker ``[cpu, null]`` (null: jobs without a
category), a worker with no category list everything (``na-flows run`` on one machine).

"No category" rather than a third name for light jobs, because jobflow adds helper jobs at run time that no
router sees (``store_inputs``, which keeps a replaced job's output), and they must run somewhere. jobflow also
hands a job's ``manager_config`` to the jobs it creates unless told otherwise; jobs that create jobs (the MD
gate) therefore do not pass theirs on and route what they create with ``route`` instead.
"""

from __future__ import annotations

from jobflow import Flow, Job

GPU = "gpu"
CPU = "cpu"

# Jobs made by plain @job functions, by function name; anything not listed here or in `_maker_category` runs anywhere.
FUNCTION_CATEGORIES = {
    "mlp_phonons": GPU,
    "mlp_phonons_batch": GPU,
    "committee_phonons": GPU,
    "mlp_md": GPU,
    "mlp_md_batch": GPU,
    "doped_npt_point": GPU,
    "doped_transition": GPU,  # the whole fine grid: one GPU worker's job
    "doped_transport": GPU,
    "soft_mode_series": GPU,
    "evaluate_model_on_reference": GPU,
    "benchmark_trajectory_frames": GPU,
    "compare_dft_phonons": GPU,
    "sample_md_frames": GPU,
    "fit_allegro": GPU,  # small fits run on CPU too (na-flows run takes every category)
    "finetune_sevennet_job": GPU,
    "finetune_uma_job": GPU,
    "run_elastic_deformations": GPU,  # atomate2's: replaced by the MLP relaxations of the strained cells, which inherit it
    "gpaw_static": CPU,
    "gpaw_relax": CPU,
    "gpaw_aimd": CPU,
    "gpaw_random_displacement_reference": CPU,
    "label_training_frames": CPU,  # GPAW single points
}


def _maker_category(job: Job) -> str | None:
    """Jobs of atomate2 Makers: its force-field makers are MLP work, its VASP makers DFT."""
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker
    from atomate2.vasp.jobs.base import BaseVaspMaker

    maker = job.maker
    if isinstance(maker, ForceFieldRelaxMaker | ForceFieldStaticMaker):
        return GPU
    if isinstance(maker, BaseVaspMaker):
        return CPU
    return None


def job_category(job: Job) -> str | None:
    """The worker category ``job`` needs; None: any worker."""
    return _maker_category(job) or FUNCTION_CATEGORIES.get(getattr(job.function, "__name__", ""))


def _jobs_of(flow: Flow | Job) -> list[Job]:
    """Every job of ``flow``, nested flows included; not ``Flow.iterflow``, which builds the dependency graph by
    serialising every job's inputs (a candidate's structure, twice per flow): 2.6 ms of a submission's ~25."""
    if isinstance(flow, Job):
        return [flow]
    return [job for item in flow.jobs for job in _jobs_of(item)]


def route(flow: Flow | Job) -> Flow | Job:
    """Give every job of ``flow`` its category, or none for jobs any worker may run (in place; returns
    ``flow``). No other manager setting is touched."""
    for job in _jobs_of(flow):
        config = {
            key: value for key, value in job.config.manager_config.items() if key != "_category"
        }
        category = job_category(job)
        job.config.manager_config = (
            config if category is None else {**config, "_category": category}
        )
    return flow
