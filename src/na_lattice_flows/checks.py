"""Range checks of numeric settings, shared by the Makers (Python API) and the command line's options, so that a
bad value is refused at submission with the same words wherever it comes from: the setting's name, the value and
the allowed range."""

from __future__ import annotations

import math

from pydantic import ValidationError

from na_lattice_flows.errors import InputError


def allowed_range(above: float | None = None, at_least: float | None = None, unit: str = "") -> str:
    """'> 0 K', '>= 1'."""
    bound = f"> {above:g}" if above is not None else f">= {at_least:g}"
    return f"{bound} {unit}".rstrip()


def range_problem(
    value: float, above: float | None = None, at_least: float | None = None, unit: str = ""
) -> str | None:
    """What is wrong with ``value`` (not finite, or out of range), or None."""
    kind = (
        "an integer"
        if isinstance(value, int) and not isinstance(value, bool)
        else "a finite number"
    )
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return f"must be {kind} {allowed_range(above, at_least, unit)}"
    if (above is not None and not value > above) or (
        at_least is not None and not value >= at_least
    ):
        return f"must be {kind} {allowed_range(above, at_least, unit)}"
    return None


def check_range(
    name: str,
    value: float,
    above: float | None = None,
    at_least: float | None = None,
    unit: str = "",
) -> None:
    """Raise ValueError naming ``name``, ``value`` and the allowed range when ``value`` is outside it."""
    problem = range_problem(value, above, at_least, unit)
    if problem is not None:
        raise InputError(f"{name} = {value!r}: {problem}")


def validation_message(error: ValidationError, names: dict[str, str] | None = None) -> str:
    """A pydantic error in the user's words: each bad field under the name the user typed (``names``: field ->
    flag), its value and what is allowed; no pydantic boilerplate."""
    names = names or {}
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "options"
        shown = names.get(str(item["loc"][0]), field) if item["loc"] else field
        message = item["msg"].removeprefix("Value error, ")
        said = item["type"] == "extra_forbidden" or "got" in message
        got = "" if said else f" (got {item['input']!r})"
        problems.append(f"{shown}: {message}{got}")
    return "; ".join(problems)
