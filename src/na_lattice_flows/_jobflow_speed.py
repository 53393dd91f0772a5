"""jobflow checks every ``job.output.<attribute>`` of a job with an output schema by generating that schema's JSON
schema (pydantic's ``model_json_schema``, about 9 ms each time): making one screening flow spent 26 ms there, more
than storing it. The answer depends only on the schema class and the attribute, so it is cached (an invalid
attribute still raises: exceptions are not cached)."""

from __future__ import annotations

import functools


def install() -> None:
    from jobflow.core import reference

    if not hasattr(reference.validate_schema_access, "cache_info"):
        reference.validate_schema_access = functools.lru_cache(maxsize=4096)(reference.validate_schema_access)
