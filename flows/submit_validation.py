"""Submit AIMD validation of the screen's best hits: the k structures with the largest MLP diffusion coefficient
(finished screening flows, MD not melted) get AIMD and an MLP-vs-AIMD comparison document.

    python flows/submit_validation.py --top 5 --engine vasp --wall-time 172800   # HPC, VASP through custodian
    python flows/submit_validation.py --top 1 --engine gpaw --steps 2000          # locally, GPAW
    na-flows run            # or: rlaunch ... rapidfire on the workers
"""

from __future__ import annotations

import argparse

from jobflow.managers.fireworks import flow_to_workflow

from na_lattice_flows.gpaw_jobs import GPAWAIMDMaker
from na_lattice_flows.results import summary_documents
from na_lattice_flows.stores import open_session, resolve_settings
from na_lattice_flows.validation import AIMDValidationMaker, top_hits
from na_lattice_flows.vasp_jobs import VaspAIMDMaker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=5, help="number of structures (largest MLP D first)")
    parser.add_argument("--engine", choices=["vasp", "gpaw"], default="vasp")
    parser.add_argument("--temperature", type=float, default=800.0)
    parser.add_argument("--steps", type=int, default=20_000, help="AIMD steps of 1.5 fs (default 20 000 = 30 ps)")
    parser.add_argument("--wall-time", type=int, help="VASP: queue wall time per segment in s (custodian WalltimeHandler)")
    parser.add_argument("--trajectory-dir", default="na_flows_trajectories", help="GPAW: folder every worker sees")
    parser.add_argument("--workdir", help="embedded store folder (ignored when MongoDB is configured)")
    parser.add_argument("--mongodb-uri")
    args = parser.parse_args()

    settings = resolve_settings(args.workdir, args.mongodb_uri)
    with open_session(settings) as session:
        hits = top_hits(summary_documents(session), args.top)
        maker = AIMDValidationMaker(
            engine=args.engine,
            vasp_maker=VaspAIMDMaker(temperature_K=args.temperature, n_steps=args.steps, wall_time_s=args.wall_time),
            gpaw_maker=GPAWAIMDMaker(
                md_overrides={"temperature_K": args.temperature, "n_equilibration_steps": 0, "n_production_steps": args.steps},
                trajectory_dir=args.trajectory_dir,
            ),
        )
        workflow = flow_to_workflow(maker.make(hits))
        session.launchpad.add_wf(workflow)
        session.save()
    print(f"{settings.describe()}: AIMD ({args.engine}) submitted for " + ", ".join(f"{h.candidate_id} (D = {h.D_mlp_A2_per_ps:.3g} A^2/ps)" for h in hits))


if __name__ == "__main__":
    main()
