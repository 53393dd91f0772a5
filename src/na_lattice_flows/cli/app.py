"""The ``na-flows`` command: the parser made of the command groups, and the entry point with its exit statuses."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings

from pydantic import ValidationError

from na_lattice_flows.cli import campaign, doping, results, tools, training, validation
from na_lattice_flows.cli.common import (
    EXIT_JOBS_FAILED,
    EXIT_NOTHING_SUBMITTED,
    EXIT_STORE,
    EXIT_USAGE,
)
from na_lattice_flows.errors import InputError
from na_lattice_flows.execution.jobflow_speed import install as install_jobflow_shortcuts
from na_lattice_flows.execution.store_config import StoreUnavailableError
from na_lattice_flows.models import ModelUnavailableError

GROUPS = (campaign, results, tools, validation, doping, training)
EXIT_STATUSES = f"""exit status:
  0  success
  1  an unexpected error (a bug: the end of its traceback is printed, all of it with -v; please report it)
  {EXIT_USAGE}  bad usage or input: an option or value out of range, a missing or unusable input
  {EXIT_NOTHING_SUBMITTED}  submit: nothing was submitted (every input rejected or already submitted)
  {EXIT_JOBS_FAILED}  run: jobs failed in this run (their errors: na-flows results --failed)
  {EXIT_STORE}  the store cannot be used: MongoDB unreachable, the embedded store damaged or not writable"""
# the user's to fix (the project's own types; pydantic's for settings built from options): one line, exit 2
USAGE_ERRORS = (InputError, ModelUnavailableError, ValidationError)
TRACEBACK_LINES = 6  # of an unexpected error's traceback, without -v


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The parser, and command name -> handler."""
    parser = argparse.ArgumentParser(
        prog="na-flows",
        description="Screen Na-containing crystals for superionic conduction (jobflow + FireWorks).",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers = {}
    for group in GROUPS:
        handlers.update(group.add_commands(commands))
    return parser, handlers


def main(argv: list[str] | None = None) -> int:
    """Run ``na-flows``; the exit status (README's table): 2 for usage errors, 1 with the traceback
    for bugs."""
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # libraries (FireWorks) set their own loggers to DEBUG
    logging.getLogger().handlers[0].setLevel(level)
    if not args.verbose:
        warnings.filterwarnings("ignore")
    install_jobflow_shortcuts()  # this process makes and submits flows
    try:
        return handlers[args.command](args)
    except StoreUnavailableError as exc:
        print(f"na-flows {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_STORE
    except USAGE_ERRORS as exc:
        print(f"na-flows {args.command}: error: {usage_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # noqa: BLE001 - a bug, not a mistake: say so, with where it happened
        lines = traceback.format_exc().rstrip().splitlines()
        shown = lines if args.verbose else lines[-TRACEBACK_LINES:]
        print(
            f"na-flows {args.command}: unexpected error (a bug; please report it with the lines below"
            + ("" if args.verbose else ", all of them with -v")
            + "):",
            *shown,
            sep="\n",
            file=sys.stderr,
        )
        return 1


def usage_message(error: Exception) -> str:
    """One line: the error's own words; for settings refused by pydantic, each field with what is wrong."""
    if isinstance(error, ValidationError):
        from na_lattice_flows.checks import validation_message

        return f"{error.title}: {validation_message(error)}"
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
