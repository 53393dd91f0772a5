"""What the command groups share: store options, the store settings of a command, table output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from na_lattice_flows.execution.stores import StoreSettings, resolve_settings


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir",
        help="embedded store and run folders (default: $NA_FLOWS_WORKDIR or ./na_flows_work)",
    )
    parser.add_argument(
        "--mongodb-uri",
        help="use this MongoDB instead of the embedded store (default: $NA_FLOWS_MONGODB_URI or launchpad/na_flows.yaml)",
    )


def store_settings(args: argparse.Namespace) -> StoreSettings:
    return resolve_settings(workdir=args.workdir, mongodb_uri=args.mongodb_uri)


def write_table(table: pd.DataFrame, fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE.parquet")
        from na_lattice_flows.analysis.dataset import export_table

        export_table(table, Path(output).with_suffix(".parquet"))
    elif output:
        Path(output).write_text(render_table(table, fmt))
    else:
        print(render_table(table, fmt))
        return
    print(f"Wrote {len(table)} rows to {output}")


def render_table(table: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=2)
    if table.empty:
        return "(no rows)"
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 60):
        return table.to_string(index=False, float_format=lambda x: f"{x:.4f}")
