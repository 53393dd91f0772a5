"""Submit a screening campaign from Python: load candidates, screen them, add one flow per structure.

    python flows/submit_screening.py ../shared/data/candidates/na_mp2018_phonondb.csv --model CHGNet
    na-flows run            # or: rlaunch ... rapidfire on the workers

The same steps are available to scripts that compose their own flows: ``ScreeningFlowMaker().make(candidate)``
returns the jobflow Flow for one structure.
"""

from __future__ import annotations

import argparse

from na_lattice_flows.candidates import load_candidates
from na_lattice_flows.execution import submit_candidates
from na_lattice_flows.jobs import MLPRelaxMaker
from na_lattice_flows.screening import ScreeningCriteria, screen_candidates
from na_lattice_flows.stores import open_session, resolve_settings
from na_lattice_flows.workflows import ScreeningFlowMaker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="CSV tables, JSON lists, CIF/POSCAR files or folders")
    parser.add_argument("--model", default="chgnet", help="MLP for the relaxation (registry name)")
    parser.add_argument("--max-sites", type=int, default=200)
    parser.add_argument("--workdir", help="embedded store folder (ignored when MongoDB is configured)")
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args()

    report = screen_candidates(load_candidates(args.inputs), ScreeningCriteria(max_sites=args.max_sites))
    flow_maker = ScreeningFlowMaker(relax_maker=MLPRelaxMaker(model=args.model))
    settings = resolve_settings(args.workdir, args.mongodb_uri)
    with open_session(settings) as session:
        record = submit_candidates(session, report, args.inputs, flow_maker)
    print(f"{settings.describe()}: {len(record.submitted)} flows submitted; {len(record.rejections)} not submitted")
    for reason, count in sorted(report.rejection_counts().items()):
        print(f"  {count:5d}  {reason}")


if __name__ == "__main__":
    main()
