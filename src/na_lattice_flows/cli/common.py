"""What the command groups share: store options, the store settings of a command, table output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from na_lattice_flows.errors import InputError, MissingInputError
from na_lattice_flows.execution.store_config import StoreSettings, resolve_settings

if TYPE_CHECKING:
    import pandas as pd

# Exit statuses of every command (listed in `na-flows --help`).
EXIT_OK = 0
EXIT_ERROR = 1  # an unexpected error (a bug): the traceback is printed
EXIT_USAGE = 2  # bad usage or input: an option or value out of range, an unreadable or missing input (argparse's code too)
EXIT_NOTHING_SUBMITTED = 3  # submit: every input was rejected or already submitted
EXIT_JOBS_FAILED = 4  # run: jobs failed (their errors: na-flows results --failed)
EXIT_STORE = (
    5  # the store cannot be used: MongoDB unreachable, a damaged or unwritable embedded store
)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--workdir`` and ``--mongodb-uri``, the options of every command that opens a store."""
    parser.add_argument(
        "--workdir",
        help="embedded store and run folders (default: $NA_FLOWS_WORKDIR or ./na_flows_work)",
    )
    parser.add_argument(
        "--mongodb-uri",
        help="use this MongoDB instead of the embedded store (default: $NA_FLOWS_MONGODB_URI or launchpad/na_flows.yaml)",
    )


def add_table_options(parser: argparse.ArgumentParser) -> None:
    """``--format`` and ``--output`` of a command that prints a table (``write_table`` writes it)."""
    from na_lattice_flows.cli.options import output_file

    parser.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet"],
        default="table",
        help="table on screen (default), or csv, json, parquet (needs --output)",
    )
    parser.add_argument(
        "--output", type=output_file, help="write to this file instead of the screen"
    )


def read_structure_file(path: str):
    """A pymatgen Structure from a CIF or POSCAR file; a missing or unreadable file is a usage error naming it."""
    from pymatgen.core import Structure

    if Path(path).is_dir():
        raise InputError(f"{path}: a folder, not a structure file (give one CIF or POSCAR)")
    if not Path(path).is_file():
        raise MissingInputError(f"{path}: no such structure file")
    try:
        return Structure.from_file(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable structure (CIF or POSCAR): {exc}") from exc


def store_settings(args: argparse.Namespace, existing: bool = False) -> StoreSettings:
    """The store of a command; ``existing``: a command that only reads (or recovers) refuses a work folder that
    holds no store, so that a mistyped ``--workdir`` is named instead of opened as a new, empty store."""
    settings = resolve_settings(workdir=args.workdir, mongodb_uri=args.mongodb_uri)
    if settings.mode != "embedded":
        return settings
    if settings.workdir.exists() and not settings.workdir.is_dir():
        raise InputError(f"--workdir {settings.workdir}: a file, not a folder")
    if existing and not (settings.launchpad_db.is_file() or settings.launchpad_file.is_file()):
        raise InputError(
            f"--workdir {settings.workdir}: no store there (no launchpad.sqlite); check the folder, "
            "or submit to it first"
        )
    return settings


def write_table(table: pd.DataFrame, fmt: str, output: str | None) -> None:
    """Print ``table`` or write it to ``output`` as ``fmt``; parquet is written under the name it is
    said."""
    if fmt == "parquet":
        if not output:
            raise InputError("--format parquet needs --output FILE.parquet")
        from na_lattice_flows.analysis.dataset import export_table

        output = str(Path(output).with_suffix(".parquet"))  # what is written is what is said
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        export_table(table, Path(output))
    elif output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(render_table(table, fmt))
    else:
        print(render_table(table, fmt))
        return
    print(f"Wrote {len(table)} rows to {output}")


def render_table(table: pd.DataFrame, fmt: str) -> str:
    """``table`` as CSV, JSON records or an aligned text table."""
    import pandas as pd

    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=2)
    if table.empty:
        return "(no rows)"
    with pd.option_context(
        "display.max_columns", None, "display.width", 200, "display.max_colwidth", 60
    ):
        return table.to_string(index=False, float_format=lambda x: f"{x:.4f}")


def open_session(settings: StoreSettings, read_only: bool = False):
    """``execution.stores.open_session``, imported when a command opens its store (not for ``--help``)."""
    from na_lattice_flows.execution.stores import open_session as open_store

    return open_store(settings, read_only=read_only)
