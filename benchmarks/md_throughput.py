"""MD throughput of the two engines on the same structures and model: the ASE engine (one structure at a time,
``md.run_langevin_md``) and the torch-sim engine (all structures in one batch, ``md_batched``), on 1, 4 and 16
paper supercells of ~100 atoms. Prints wall time, MD steps per second (structure-steps: one step of one
structure), atom-steps per second, and the time per MD step over the time of a bare force call on the same
systems (the integrator's, thermostat's, checkpoint's and frame-writing overhead; 1.0 would be free).

    .venv/bin/python benchmarks/md_throughput.py [--model 7net-0] [--steps 20] [--sizes 1,4,16] [--device cpu]

Both engines run the product code path (checkpoints and frames on disk, HDF5 at the end) with the paper's
checkpoint interval scaled to the run: one checkpoint halfway.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.candidates.demo_set import DEMO_COMPOUNDS
from na_lattice_flows.md.batched import run_torchsim_langevin_md
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.settings import MDSettings
from na_lattice_flows.models import get_calculator, get_torchsim_model
from na_lattice_flows.structure.supercells import paper_supercell


def paper_supercells(count: int, max_atoms: int = 140) -> list:
    """``count`` paper supercells (>= 80 atoms) of the demo compounds, cycled; the larger ones left out so that
    the structures are ~100 atoms."""
    cells = []
    for compound in DEMO_COMPOUNDS:
        structure = compound.structure()
        supercell = paper_supercell(structure)
        if supercell.n_atoms <= max_atoms:
            cells.append(AseAtomsAdaptor.get_atoms(structure * supercell.supercell_matrix))
    return [cells[i % len(cells)] for i in range(count)]


def time_bare_forces(systems, calculator, model) -> tuple[float, float]:
    """Seconds for one force evaluation of all systems: ASE one after another, torch-sim in one batch."""
    import torch_sim as ts

    start = time.perf_counter()
    for atoms in systems:
        atoms = atoms.copy()
        atoms.rattle(0.01, seed=1)
        atoms.calc = calculator
        atoms.get_forces()
    ase_seconds = time.perf_counter() - start
    state = ts.initialize_state(
        [atoms.copy() for atoms in systems], device=model.device, dtype=model.dtype
    )
    model(state)  # warm-up (graph building, first allocation)
    start = time.perf_counter()
    model(state)
    return ase_seconds, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--steps", type=int, default=20, help="MD steps per run (default 20)")
    parser.add_argument("--sizes", default="1,4,16", help="numbers of structures (default 1,4,16)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = parser.parse_args()

    calculator = get_calculator(args.model, args.device)
    model = get_torchsim_model(args.model, args.device)
    settings = MDSettings(
        n_equilibration_steps=0,
        n_production_steps=args.steps,
        checkpoint_interval_steps=max(1, args.steps // 2),
    )
    warm = paper_supercells(1)[0].copy()
    warm.calc = calculator
    warm.get_forces()  # the ASE model's first call outside the timings
    print(f"model {args.model} on {model.device}, {args.steps} MD steps per run")
    header = f"{'engine':<9} {'structures':>10} {'atoms':>6} {'wall s':>8} {'steps/s':>8} {'atom-steps/s':>13} {'t_step/t_force':>15}"
    print(header)
    print("-" * len(header))
    for count in [int(n) for n in args.sizes.split(",")]:
        systems = paper_supercells(count)
        n_atoms = sum(len(atoms) for atoms in systems)
        ase_force_s, batch_force_s = time_bare_forces(systems, calculator, model)
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            for index, atoms in enumerate(systems):
                run_langevin_md(
                    atoms, calculator, settings, Path(folder) / f"ase_{index}.h5", progress=False
                )
            ase_s = time.perf_counter() - start
            start = time.perf_counter()
            paths = [Path(folder) / f"torchsim_{index}.h5" for index in range(count)]
            run_torchsim_langevin_md(systems, model, [settings] * count, paths, progress=False)
            torchsim_s = time.perf_counter() - start
        for engine, wall, force_s in (
            ("ase", ase_s, ase_force_s),
            ("torchsim", torchsim_s, batch_force_s),
        ):
            per_step = wall / args.steps  # one MD step of all the structures
            print(
                f"{engine:<9} {count:>10} {n_atoms:>6} {wall:>8.1f} {count * args.steps / wall:>8.2f} "
                f"{n_atoms * args.steps / wall:>13.0f} {per_step / force_s:>15.2f}"
            )


if __name__ == "__main__":
    main()
