"""Two jobflow costs that grow with a campaign, removed without changing what jobflow computes.

1. jobflow checks every ``job.output.<attribute>`` of a job with an output schema by generating that schema's JSON
   schema (pydantic's ``model_json_schema``, about 9 ms each time): making one screening flow spent 26 ms there,
   more than storing it. The answer depends only on the schema class and the attribute, so it is cached (an
   invalid attribute still raises: exceptions are not cached).
2. To find the references and jobs among a job's inputs, jobflow serialises each input to a dict and walks it
   (``find_and_get_references``, ``contains_flow_or_job``), again every time the flow's graph is built: a
   candidate's structure went through that six times per screening flow, a fifth of submitting it. A pymatgen
   structure, lattice or composition holds numbers and element names, never a job or a reference, so those
   inputs are answered at once; anything else takes jobflow's walk as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# classes whose instances cannot hold a Job, a Flow or an OutputReference (pymatgen's data, numpy arrays)
INERT_CLASSES = {
    ("pymatgen.core.structure", "Structure"),
    ("pymatgen.core.structure", "IStructure"),
    ("pymatgen.core.structure", "Molecule"),
    ("pymatgen.core.lattice", "Lattice"),
    ("pymatgen.core.composition", "Composition"),
    ("numpy", "ndarray"),
}


def is_inert(value: Any) -> bool:
    return (type(value).__module__, type(value).__name__) in INERT_CLASSES


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


def install() -> None:
    from jobflow.core import flow, reference
    from jobflow.utils import find

    if not hasattr(reference.validate_schema_access, "cache_info"):
        reference.validate_schema_access = functools.lru_cache(maxsize=4096)(reference.validate_schema_access)
    if not hasattr(reference.find_and_get_references, "skips_inert"):
        # job.py imports both finders at call time, flow.py its own name at import: each module's name is replaced
        reference.find_and_get_references = flow.find_and_get_references = _skipping_inert(reference.find_and_get_references, ())
        find.contains_flow_or_job = flow.contains_flow_or_job = _skipping_inert(find.contains_flow_or_job, False)
