"""Argument types that check values as they are parsed: an out-of-range number is a usage error (exit status 2)
naming the option, the value and the allowed range, before anything is loaded or stored."""

from __future__ import annotations

import argparse

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
