"""How the per-mode displacement cap of the effective-phonon draws decides a verdict: one pool structure relaxed
and phonon-fitted as the screen does (7net-0, BFGS, 30 supercells, symfc), then the self-consistent loop at
800 K with each cap given, printing every iteration (lowest commensurate frequency, rms change of the fit, free
energy, mean displacement) and how it ends. NaLiY2F8 (mp-558597, the default), on the campaign's FIRE-relaxed
cell: 1 A per mode ran away from a first fit 815 THz off; 0.3 A and 0.2 A made it stable by the third iteration
(README, "Stability at the screening temperature"). On this script's BFGS-relaxed cell (harmonic -0.70 THz)
0.3 A gave -9.8, -6.8, -3.9 THz over the first three iterations: recovering, but beyond the runaway guard's
-3 THz, which judges the window of iterations 1-5. One torch thread; minutes per cap.

    .venv/bin/python benchmarks/effective_phonon_caps.py [--id mp-558597] [--caps 1.0,0.5,0.3] [--iterations 12]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch
from atomate2.ase.utils import AseRelaxer
from pymatgen.core import Structure

from na_lattice_flows.models import get_calculator
from na_lattice_flows.phonons.finite_temperature import (
    EffectivePhononSettings,
    EffectivePhononsNotConverged,
    effective_phonons,
    model_forces_of,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
from na_lattice_flows.phonons.stability import stability_screen
from na_lattice_flows.settings import SETTINGS
from na_lattice_flows.structure.supercells import paper_supercell

POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--id", default="mp-558597")
    parser.add_argument("--caps", default="1.0,0.5,0.3", help="A per mode, comma-separated")
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--temperature", type=float, default=SETTINGS.temperature_K)
    args = parser.parse_args()
    torch.set_num_threads(1)
    csv.field_size_limit(10**7)
    with POOL.open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["material_id"] == args.id)
    calculator = get_calculator(SETTINGS.default_model)
    relaxed = (
        AseRelaxer(calculator, optimizer="BFGS", relax_cell=True, fix_symmetry=True, symprec=0.01)
        .relax(
            Structure.from_str(row["poscar_unitcell_phonondb"], fmt="poscar"), fmax=0.01, steps=1000
        )
        .final_mol_or_struct
    )
    reference = random_displacement_reference(
        relaxed,
        paper_supercell(relaxed).supercell_matrix,
        lambda cells: predict_forces(cells, calculator, progress=False),
        name=args.id,
    )
    verdict, ph = stability_screen(fit_force_constants(reference, method="symfc"))
    print(
        f"{args.id} {row['cell_formula']}: harmonic lowest {verdict.min_frequency_thz:.3f} THz",
        flush=True,
    )
    for cap in (float(c) for c in args.caps.split(",")):
        start = time.monotonic()
        settings = EffectivePhononSettings(
            temperature_K=args.temperature,
            max_iterations=args.iterations,
            max_mode_displacement_A=cap,
        )

        def show(record, cap=cap, start=start):
            print(
                f"  cap {cap:g} A, iteration {record.iteration}: lowest {record.min_frequency_thz:8.2f} THz, "
                f"fit change {record.rms_change_thz:7.2f} THz rms, F {record.free_energy_meV_per_atom:8.2f} "
                f"meV/atom, mean displacement {record.mean_displacement_A:.3f} A ({time.monotonic() - start:.0f} s)",
                flush=True,
            )

        try:
            record, effective = effective_phonons(
                ph, model_forces_of(ph, calculator), settings, show
            )
            final, _ = stability_screen(effective)
            print(
                f"  cap {cap:g} A: converged, {'stable' if final.dynamically_stable else 'unstable'} "
                f"(lowest {final.min_frequency_thz:.2f} THz; {record.rejected_draws} draws rejected)"
            )
        except EffectivePhononsNotConverged as exc:
            print(f"  cap {cap:g} A: {exc}")


if __name__ == "__main__":
    main()
