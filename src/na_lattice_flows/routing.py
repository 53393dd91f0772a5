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

# atomate2's job functions, which this package cannot tag: its elastic deformations are replaced by the MLP
# relaxations of the strained cells, which inherit the category
FOREIGN_CATEGORIES = {"run_elastic_deformations": GPU}


def worker(category: str):
    """Tag a job function (below ``@job``) or a Maker's ``make`` with the worker category its jobs need:
    declared where the job is defined. ``job_category`` reads it from the job's function, bound methods too."""

    def tag(function):
        function.worker_category = category
        return function

    return tag


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
    return (
        _maker_category(job)
        or getattr(job.function, "worker_category", None)
        or FOREIGN_CATEGORIES.get(getattr(job.function, "__name__", ""))
    )


def _jobs_of(flow: Flow | Job) -> list[Job]:
    """Every job of ``flow``, nested flows included; not ``Flow.iterflow``, which builds the dependency graph by
    serialising every job's inputs (a candidate's structure, twice per flow: a tenth of a submission, README
    "Production")."""
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
