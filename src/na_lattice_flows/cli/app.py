"""The ``na-flows`` command: the parser made of the command groups, and the entry point."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from na_lattice_flows.candidates.loaders import CandidateInputError
from na_lattice_flows.cli import campaign, results, tools, validation
from na_lattice_flows.execution.stores import StoreConfigError
from na_lattice_flows.models import UnknownModelError
from na_lattice_flows.phonons.references import ReferenceError

GROUPS = (campaign, results, tools, validation)


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The parser, and command name -> handler."""
    parser = argparse.ArgumentParser(
        prog="na-flows",
        description="Screen Na-containing crystals for superionic conduction (jobflow + FireWorks).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers = {}
    for group in GROUPS:
        handlers.update(group.add_commands(commands))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().handlers[0].setLevel(level)  # libraries (FireWorks) set their own loggers to DEBUG
    if not args.verbose:
        warnings.filterwarnings("ignore")
    try:
        return handlers[args.command](args)
    except (CandidateInputError, StoreConfigError, UnknownModelError, ReferenceError, ValueError, RuntimeError, FileNotFoundError) as exc:
        print(f"na-flows {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
