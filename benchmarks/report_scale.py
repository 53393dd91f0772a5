"""The report at campaign scale: build `na-flows report` for a store (a campaign's, e.g. the one
`benchmarks/campaign.py` leaves) or for a synthetic results table of N structures, then open it in headless
Chromium and print the page size, the time to build it, the time the page takes to load and draw (its own
clock, from navigation start to the end of its load handler), the interactive plots drawn and the rows a filter
leaves.

    .venv/bin/python benchmarks/report_scale.py --synthetic 1000
    .venv/bin/python benchmarks/report_scale.py --workdir /tmp/campaign/store
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from na_lattice_flows.analysis import report as report_module
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.workflow.columns import RESULT_COLUMNS

TESTS = Path(__file__).resolve().parents[1] / "tests"
FILTER = "#filter=dynamically_stable=True msd_na_avg_A2>0.2&sort=msd_na_avg_A2:desc"


def rendered(page: Path, fragment: str) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit(
            "needs Debian's chromium (scripts/setup_env.sh installs it when run as root)"
        )
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=20000",
        "--dump-dom",
        page.resolve().as_uri() + fragment,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--synthetic", type=int, help="a synthetic results table of this many structures"
    )
    source.add_argument("--workdir", type=Path, help="an embedded store (a campaign's)")
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="na_flows_report_"))
    if args.synthetic:
        sys.path.insert(0, str(TESTS))
        from synthetic_tables import linear_truth

        table = linear_truth(args.synthetic, seed=3)[RESULT_COLUMNS].copy()
        table["state"], table["campaign_id"], table["md_preset"] = (
            "COMPLETED",
            "campaign-synthetic",
            "paper",
        )
        table.loc[::3, "dynamically_stable"] = False
        # the store below is empty: the table stands in for it
        report_module.results_table = lambda session: table
        settings = resolve_settings(workdir=out / "store")
    else:
        settings = resolve_settings(workdir=args.workdir)
    with open_session(settings, read_only=not args.synthetic) as session:
        start = time.perf_counter()
        report = report_module.build_report(session, out / "report")
        built_s = time.perf_counter() - start
    dom = rendered(report.path, FILTER)
    body = dict(re.findall(r'data-([\w-]+)="([^"]*)"', re.search(r"<body([^>]*)>", dom).group(1)))
    shown = re.search(r'id="structures" data-rows-shown="(\d+)"', dom)
    # the header too
    n_rows = (
        len(
            re.findall(
                r"<tr[ >]", re.search(r'id="structures".*?</table>', dom, re.DOTALL).group(0)
            )
        )
        - 1
    )
    print(
        f"report of {n_rows} structures: {report.path.stat().st_size / 1e6:.1f} MB, built in {built_s:.1f} s; "
        f"in Chromium: loaded and drawn in {body.get('load-ms')} ms, {body.get('plots-drawn')} interactive plots, "
        f"{body.get('figures-loaded')}/{body.get('figures-expected')} static figures"
    )
    print(
        f"filter '{FILTER}': {shown.group(1) if shown else '?'} of {n_rows} rows shown; page: {report.path}"
    )


if __name__ == "__main__":
    main()
