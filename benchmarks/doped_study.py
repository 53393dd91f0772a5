"""The doped study's benchmarks (issue 18). Three parts, each printing its figures:

  speed  NPT (ASE MTK, flexible cell) against NVT Langevin steps per second on the same cell and model
  tc     the pristine T_C bracket: NPT on a coarse grid, then the fine grid from both endpoints (the flow's own
         jobs, run in-process), with the phases found, T_C and the wall time
  short  the whole study with the short preset (pristine + one doped system, no controls) through jobflow

  python benchmarks/doped_study.py speed --model 7net-0 --supercell 2x2x2
  python benchmarks/doped_study.py tc --model 7net-0 --supercell 2x2x2 --temperatures 300,450,600 --fine-step 75
  python benchmarks/doped_study.py short --model chgnet

The cubic Na3SbS4 of the demo set is the start (I-43m, a = 7.1453 A): on heating runs the coarse grid starts
from it, and each point's NPT finds its own phase."""

from __future__ import annotations

import argparse
import json
import time
import warnings

warnings.filterwarnings("ignore")


def host_structure():
    from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS

    return next(c for c in DEMO_COMPOUNDS if c.name == "Na3SbS4").structure()


def speed(args) -> None:
    import numpy as np
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.nose_hoover_chain import MTKNPT
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from pymatgen.io.ase import AseAtomsAdaptor

    from na_lattice_flows.doping.cells import parse_supercell
    from na_lattice_flows.models import get_calculator

    atoms = AseAtomsAdaptor.get_atoms(host_structure() * parse_supercell(args.supercell))
    atoms.calc = get_calculator(args.model)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = {
        "NVT Langevin": Langevin(atoms, 2 * units.fs, temperature_K=300, friction=0.01 / units.fs),
        "NPT MTK (flexible cell)": MTKNPT(
            atoms,
            2 * units.fs,
            temperature_K=300,
            pressure_au=0.0,
            tdamp=200 * units.fs,
            pdamp=2000 * units.fs,
        ),
    }
    for name, integrator in dynamics.items():
        integrator.run(3)
        start = time.perf_counter()
        integrator.run(args.steps)
        print(
            f"{args.model} {len(atoms)} atoms {name:26s} {args.steps / (time.perf_counter() - start):6.2f} steps/s"
        )


def tc(args) -> None:
    from na_lattice_flows.doping.cells import doped_supercell, parse_supercell
    from na_lattice_flows.doping.jobs import doped_npt_point, doped_transition
    from na_lattice_flows.doping.presets import doping_settings

    temperatures = [float(t) for t in args.temperatures.split(",")]
    settings = doping_settings(
        "short",
        supercell=parse_supercell(args.supercell),
        coarse_temperatures_K=temperatures,
        fine_step_K=args.fine_step,
        npt={"n_equilibration_steps": args.equilibration, "n_production_steps": args.production},
    )
    cell = doped_supercell(host_structure(), "W", "Sb", 0.0, settings.supercell)
    start = time.perf_counter()
    coarse = []
    for temperature in temperatures:
        doc = doped_npt_point.original(
            cell, "pristine", temperature, args.model, settings, args.trajectory_dir, "benchmark"
        )
        coarse.append(doc)
        print(
            f"coarse {temperature:6.1f} K  {doc.phase.phase:10s} a,b,c = {', '.join(f'{x:.3f}' for x in doc.phase.lattice_A)} A  "
            f"split {doc.phase.tetragonal_split:+.3%}  |dihedral| {doc.dihedrals.mean_abs_deg if doc.dihedrals else float('nan'):.2f} deg  "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    transition = doped_transition.original(
        coarse, "pristine", args.model, settings, args.trajectory_dir, "benchmark"
    )
    for run in transition.fine_runs:
        print(
            f"fine   {run.temperature_K:6.1f} K  {run.start:16s} {run.phase.phase:10s} a,b,c = {', '.join(f'{x:.3f}' for x in run.phase.lattice_A)} A"
        )
    estimate = transition.estimate
    print(
        json.dumps(
            {
                "model": args.model,
                "n_atoms": coarse[0].n_atoms,
                "T_C_K": estimate.T_C_K,
                "uncertainty_K": estimate.uncertainty_K,
                "reason": estimate.reason,
                "wall_time_s": round(time.perf_counter() - start),
            },
            indent=2,
        )
    )


def short(args) -> None:
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from na_lattice_flows.doping.flow import DopedPhaseStudyMaker

    maker = DopedPhaseStudyMaker(
        model=args.model,
        fractions=[0.0, 0.125],
        preset="short",
        controls=False,
        trajectory_dir=args.trajectory_dir,
    )
    flow = maker.make(host_structure())
    start = time.perf_counter()
    responses = run_locally(
        flow,
        store=JobStore(MemoryStore(), additional_stores={"data": MemoryStore()}),
        ensure_success=True,
        log=False,
    )
    study = responses[flow.output.uuid][1].output
    print(json.dumps(study.table, indent=2, default=str))
    print(f"{len(flow.jobs)} jobs, wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=["speed", "tc", "short"])
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--supercell", default="2x2x2")
    parser.add_argument(
        "--steps", type=int, default=30, help="speed: MD steps timed per integrator"
    )
    parser.add_argument("--temperatures", default="300,450,600")
    parser.add_argument("--fine-step", type=float, default=75.0)
    parser.add_argument("--equilibration", type=int, default=200)
    parser.add_argument("--production", type=int, default=500)
    parser.add_argument("--trajectory-dir", default="benchmark_trajectories")
    arguments = parser.parse_args()
    {"speed": speed, "tc": tc, "short": short}[arguments.part](arguments)
