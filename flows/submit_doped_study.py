"""Submit the doped-electrolyte study (W on Sb in Na3SbS4 with Na vacancies) from Python, with the harmonic
check of cubic Na3SbS4 (its phonons with 0.02 A displacements: imaginary at H).

    python flows/submit_doped_study.py tetragonal_Na3SbS4.cif --fractions 0,0.0625,0.125 --preset short --model chgnet
    na-flows run            # or: rlaunch -w fworker_configs/gpu_worker.yaml rapidfire (the NPT and MD jobs are gpu)
    na-flows doping results

``na-flows doping host ... --id mp-28782 --substitute P:Sb`` builds tetragonal Na3SbS4 (README). The flow
itself is ``DopedPhaseStudyMaker(...).make(structure)``.
"""

from __future__ import annotations

import argparse

from pymatgen.core import Structure

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.doping.flow import DopedPhaseStudyMaker
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import add_flow
from na_lattice_flows.settings import SETTINGS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("structure", help="the host's conventional cell (CIF/POSCAR)")
    parser.add_argument("--fractions", default="0,0.025,0.05,0.075,0.1")
    parser.add_argument("--preset", default="paper", choices=["paper", "short"])
    parser.add_argument("--model", default=SETTINGS.doping_model)
    parser.add_argument(
        "--workdir", help="embedded store folder (ignored when MongoDB is configured)"
    )
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args(argv)

    cubic = next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure()
    settings = resolve_settings(args.workdir, args.mongodb_uri)
    maker = DopedPhaseStudyMaker(
        model=args.model,
        fractions=[float(f) for f in args.fractions.split(",")],
        preset=args.preset,
        harmonic_structure=cubic,
        trajectory_dir=str(SETTINGS.trajectory_folder(settings.workdir)),
    )
    structure = Structure.from_file(args.structure)
    with open_session(settings) as session:
        study_id = maker.study_id(structure)
        fw_id = add_flow(
            session,
            maker.make(structure),
            f"doping {study_id}",
            {"study": "doping", "study_id": study_id},
        )
    print(f"{settings.describe()}: doped study {study_id} submitted as workflow {fw_id}")


if __name__ == "__main__":
    main()
