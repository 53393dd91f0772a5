"""Two jobflow costs that grow with a campaign, removed without changing what jobflow computes.

1. jobflow checks every ``job.output.<attribute>`` of a job with an output schema by generating that schema's JSON
   schema (pydantic's ``model_json_schema``) each time: making a screening flow spent more there than storing it
   (README "Production"). The answer depends only on the schema class and the attribute, so it is cached, a
   refusal too (re-raised each time: jobflow's ``@job`` probes its first argument for an attribute of the
   function's name, which a reference refuses, once per MD gate).
2. To find the references and jobs among a job's inputs, jobflow serialises each input to a dict and walks it
   (``find_and_get_references``, ``contains_flow_or_job``), again every time the flow's graph is built: a
   candidate's structure went through that six times per screening flow, a fifth of submitting it. A pymatgen
   structure, lattice or composition holds numbers and element names, never a job or a reference, so those
   inputs are answered at once; anything else takes jobflow's walk as before.

Both replace functions inside jobflow, so they are opt-in: ``install()`` is called where campaigns are made and
submitted (the command line, ``submission.submit_candidates``), never on import, and only on the jobflow
versions they were checked against (``TESTED_JOBFLOW_VERSIONS``; on any other it leaves jobflow alone and says
so at debug level).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

# tests/test_jobflow_speed.py compares the shortcuts with jobflow's own walk
TESTED_JOBFLOW_VERSIONS = ("0.4.0",)
LOG = logging.getLogger(__name__)

# classes whose instances cannot hold a Job, a Flow or an OutputReference (pymatgen's data, numeric numpy arrays)
INERT_CLASSES = {
    ("pymatgen.core.structure", "Structure"),
    ("pymatgen.core.structure", "IStructure"),
    ("pymatgen.core.structure", "Molecule"),
    ("pymatgen.core.lattice", "Lattice"),
    ("pymatgen.core.composition", "Composition"),
    ("numpy", "ndarray"),
}


def is_inert(value: Any) -> bool:
    """Whether ``value`` is pymatgen data or a numeric numpy array (an object array may hold anything)."""
    if (type(value).__module__, type(value).__name__) not in INERT_CLASSES:
        return False
    return type(value).__name__ != "ndarray" or value.dtype.kind in "biufc"


def _skipping_inert(search: Callable[[Any], Any], nothing: Any) -> Callable[[Any], Any]:
    """``search`` (a jobflow finder of one argument) that answers ``nothing`` for an inert value and leaves inert
    items out of a tuple or list of inputs (``Job.__init__`` checks all its arguments as one tuple)."""

    @functools.wraps(search)
    def without_inert(value: Any) -> Any:
        if is_inert(value):
            return nothing
        if type(value) in (tuple, list) and any(is_inert(item) for item in value):
            return search(type(value)(item for item in value if not is_inert(item)))
        return search(value)

    without_inert.skips_inert = True
    return without_inert


def _caching_refusals(validate: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``validate`` (jobflow's ``validate_schema_access``) remembered per (schema, item), its AttributeError too."""

    @functools.lru_cache(maxsize=4096)
    def outcome(schema: Any, item: Any) -> tuple[Any, str | None]:
        try:
            return validate(schema, item), None
        except AttributeError as refusal:
            return None, str(refusal)

    @functools.wraps(validate)
    def cached(schema: Any, item: Any) -> Any:
        result, refusal = outcome(schema, item)
        if refusal is not None:
            raise AttributeError(refusal)
        return result

    cached.caches_refusals = True
    return cached


def install() -> bool:
    """Switch the shortcuts on (once); False, and jobflow untouched, on a jobflow version they were not tested on."""
    import jobflow
    from jobflow.core import flow, reference
    from jobflow.utils import find

    if jobflow.__version__ not in TESTED_JOBFLOW_VERSIONS:
        LOG.debug(
            "jobflow %s: not one of %s, its functions are left as they are",
            jobflow.__version__,
            TESTED_JOBFLOW_VERSIONS,
        )
        return False

    if not hasattr(reference.validate_schema_access, "caches_refusals"):
        reference.validate_schema_access = _caching_refusals(reference.validate_schema_access)
    if not hasattr(reference.find_and_get_references, "skips_inert"):
        # job.py imports both finders at call time, flow.py its own name at import: each module's name is replaced
        reference.find_and_get_references = flow.find_and_get_references = _skipping_inert(
            reference.find_and_get_references, ()
        )
        find.contains_flow_or_job = flow.contains_flow_or_job = _skipping_inert(
            find.contains_flow_or_job, False
        )
    return True
