"""Argument types that check values as they are parsed: an out-of-range number is a usage error (exit status 2)
naming the option, the value and the allowed range, before anything is loaded or stored."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import numpy as np

from na_lattice_flows.checks import range_problem
from na_lattice_flows.models import UnknownModelError, resolve_model


def number(
    above: float | None = None, at_least: float | None = None, unit: str = "", integer: bool = False
):
    """An argparse type: a number (an integer with ``integer``) in the range ``> above`` / ``>= at_least``."""

    def parse(text: str) -> float | int:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text}: not {'an integer' if integer else 'a number'}"
            ) from None
        problem = range_problem(value, above, at_least, unit)
        if problem:
            raise argparse.ArgumentTypeError(f"{text}: {problem}")
        return value

    return parse


def numbers(above: float | None = None, at_least: float | None = None, unit: str = ""):
    """An argparse type: comma-separated numbers, each in range."""
    one = number(above, at_least, unit)

    def parse(text: str) -> list[float]:
        values = [one(item.strip()) for item in text.split(",") if item.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r}: give at least one value")
        return values

    return parse


def model_name(text: str) -> str:
    """An argparse type: a name the MLP registry knows (a checkpoint given as a path must exist)."""
    try:
        return resolve_model(text).name
    except UnknownModelError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def temperature_grid(text: str) -> list[float]:
    """An argparse type: temperatures in K, as START:STOP:STEP (STOP included) or comma-separated, each > 0."""
    one = number(above=0, unit="K")
    if ":" not in text:
        return numbers(above=0, unit="K")(text)
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give START:STOP:STEP (e.g. 300:900:50) or comma-separated temperatures"
        )
    start, stop, step = one(parts[0]), one(parts[1]), one(parts[2])
    if stop < start:
        raise argparse.ArgumentTypeError(f"{text!r}: STOP {stop:g} K is below START {start:g} K")
    return [float(t) for t in np.arange(start, stop + step / 2, step)]


def _bounds(info) -> tuple[float | None, float | None]:
    """The field's ``gt`` / ``ge`` bounds (pydantic keeps them as annotated-types metadata)."""
    above = next((m.gt for m in info.metadata if getattr(m, "gt", None) is not None), None)
    at_least = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    return above, at_least


def _field_type(info):
    """The field's type without ``| None``, and whether it is a ``Literal`` (its choices) or a list."""
    annotation = info.annotation
    arguments = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(arguments) == 1:
        annotation = arguments[0]
    return annotation


def flag_of(name: str, info) -> str:
    """The command-line flag of a field: ``--field-name`` unless the field names another."""
    return (info.json_schema_extra or {}).get("flag") or "--" + name.replace("_", "-")


def add_model_options(parser: argparse.ArgumentParser, options) -> None:
    """One option per field of the pydantic model ``options``: its flag, type and range checked as parsed (the
    words of ``number``), choices, default and help, all from the field. A bool field that defaults to True
    becomes a ``--no-...`` flag; a bool-or-None one a ``--x`` / ``--no-x`` pair; lists are comma-separated."""
    for name, info in options.model_fields.items():
        extra = info.json_schema_extra or {}
        if extra.get("kind") == "api-only":
            continue
        flag, annotation = flag_of(name, info), _field_type(info)
        default = info.get_default(call_default_factory=True)
        shown = "" if default in (None, [], True, False) else f" (default {_shown(default)})"
        kwargs = {"dest": name, "default": default, "help": f"{info.description}{shown}"}
        if (
            annotation is bool and info.annotation is not bool
        ):  # bool | None: on, off or "as the flow says"
            pair = parser.add_mutually_exclusive_group()
            pair.add_argument(flag, action="store_true", **kwargs)
            pair.add_argument(
                f"--no-{flag[2:]}", dest=name, action="store_false", help=f"see {flag}"
            )
            continue
        if annotation is bool:
            action = "store_false" if default else "store_true"
            parser.add_argument(flag, action=action, **kwargs)
            continue
        if get_origin(annotation) is Literal:
            kwargs["choices"] = list(get_args(annotation))
        elif extra.get("kind") == "model":
            kwargs["type"] = model_name
        elif get_origin(annotation) is list:
            (item,) = get_args(annotation)
            item = get_args(item)[0] if get_origin(item) is Annotated else item
            kwargs["type"] = (
                numbers(extra.get("above"), extra.get("at_least"), extra.get("unit", ""))
                if item in (int, float)
                else _names
            )
        elif annotation in (int, float):
            above, at_least = _bounds(info)
            kwargs["type"] = number(above, at_least, extra.get("unit", ""), annotation is int)
        kwargs["metavar"] = extra.get("metavar") or flag[2:].upper().replace("-", "_")
        if "choices" in kwargs:
            del kwargs["metavar"]
        parser.add_argument(flag, **kwargs)


def model_values(args: argparse.Namespace, options) -> dict:
    """The parsed values of ``add_model_options``' fields, to build the model from."""
    return {name: getattr(args, name) for name in options.model_fields if hasattr(args, name)}


def _names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _shown(value) -> str:
    if isinstance(value, list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _can_create_in(folder: Path) -> str | None:
    """Why nothing can be created under ``folder`` (tried, so that permissions, read-only mounts and root
    all answer truthfully), or None."""
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        Path(tempfile.mkdtemp(dir=folder, prefix=".na_flows_check_")).rmdir()
    except OSError as exc:
        return f"cannot write in {folder} ({exc.strerror or exc})"
    return None


def output_file(text: str) -> Path:
    """An argparse type: a file the command can write (not a folder; in a folder it may create), checked as
    parsed so that a bad ``--output`` is named before any computation."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: a folder; give a file name")
    if path.exists():
        try:
            with path.open("a"):
                pass
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"{text}: cannot be written ({exc.strerror or exc})"
            ) from None
        return path
    problem = _can_create_in(_nearest_existing(path.parent.resolve()))
    if problem:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return path


def output_folder(text: str) -> Path:
    """An argparse type: a folder the command can write into (existing, or one it may create)."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: a file, not a folder")
    problem = _can_create_in(_nearest_existing(path.resolve()))
    if problem:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return path
