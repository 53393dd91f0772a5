"""How the per-mode displacement cap of the effective-phonon draws decides a verdict: one pool structure relaxed
and phonon-fitted as the screen does (7net-0, BFGS, 30 supercells, symfc), then the self-consistent loop at
800 K with each cap given, printing every iteration (lowest commensurate frequency, rms change of the fit, free
energy, mean displacement) and how it ends. NaLiY2F8 (mp-558597, the default), on the campaign's FIRE-relaxed
cell: 1 A per mode ran away from a first fit 815 THz off; 0.3 A and 0.2 A made it stable by the third iteration
(README, "Stability at the screening temperature"). On this script's BFGS-relaxed cell (harmonic -0.70 THz)
0.3 A gave -9.8, -6.8, -3.9 THz over the first three iterations: recovering, but beyond the runaway guard's
-3 THz, which judges the window of iterations 1-5. One torch thread; minutes per cap.

The arbiter (``--md-ps``): an NVT run of the same supercell at T with the same model (the screen's Langevin
engine, forces kept) and one TDEP-style fit of its frames (``phonons.snapshots``): the effective spectrum of the
real anharmonic distribution, which no cap biases. If its lowest frequency is real while a cap's loop ran away, the
loop judged its own draws, not the solid; an atom that leaves its site says the model's solid does not hold at T.

    .venv/bin/python benchmarks/effective_phonon_caps.py [--id mp-558597] [--caps 1.0,0.5,0.3] [--iterations 12]
        [--md-ps 2.25]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
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
from na_lattice_flows.phonons.references import (
    ase_atoms,
    predict_forces,
    random_displacement_reference,
)
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
    parser.add_argument(
        "--caps",
        default="1.0,0.5,0.3",
        help="A per mode, comma-separated; 'auto': the settings' trust region",
    )
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--temperature", type=float, default=SETTINGS.temperature_K)
    parser.add_argument(
        "--md-ps", type=float, default=0.0, help="ps of NVT MD for the TDEP arbiter (0: none)"
    )
    parser.add_argument(
        "--md-folder",
        help="keep the arbiter's trajectory here (a rerun with it resumes or reuses it)",
    )
    parser.add_argument(
        "--md-max-displacement",
        type=float,
        default=1.0,
        help="A from its site beyond which an atom refuses the TDEP fit",
    )
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
    if args.md_ps > 0:
        md_arbiter(
            ph, calculator, args.temperature, args.md_ps, args.md_folder, args.md_max_displacement
        )
    for cap in filter(None, args.caps.split(",")):
        start = time.monotonic()
        # "auto": the settings' trust region; a number: that cap from start to end
        fixed = (
            {}
            if cap == "auto"
            else dict.fromkeys(
                ("max_mode_displacement_A", "initial_mode_displacement_A"), float(cap)
            )
        )
        settings = EffectivePhononSettings(
            temperature_K=args.temperature, max_iterations=args.iterations, **fixed
        )

        def show(record, cap=cap, start=start):
            print(
                f"  cap {cap} (drawn at {record.mode_displacement_cap_A:g} A), iteration {record.iteration}: lowest {record.min_frequency_thz:8.2f} THz, "
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
                f"  cap {cap}: converged, {'stable' if final.dynamically_stable else 'unstable'} "
                f"(lowest {final.min_frequency_thz:.2f} THz; {record.rejected_draws} draws rejected)"
            )
        except EffectivePhononsNotConverged as exc:
            print(f"  cap {cap}: {exc}")


def md_arbiter(
    ph,
    calculator,
    temperature_K: float,
    md_ps: float,
    keep: str | None = None,
    max_displacement_A: float = 1.0,
) -> None:
    """TDEP-style effective frequencies from an NVT run of the ideal supercell (module docstring)."""
    import contextlib
    import tempfile

    import h5py

    from na_lattice_flows.md.langevin import run_langevin_md
    from na_lattice_flows.md.settings import MDSettings
    from na_lattice_flows.phonons.snapshots import AtomsLeftTheirSites, snapshot_force_constants

    supercell = ph.supercell
    ideal = ase_atoms(supercell)
    timestep_fs = 1.5
    n_steps = round(1000 * md_ps / timestep_fs)
    settings = MDSettings(
        temperature_K=temperature_K,
        timestep_fs=timestep_fs,
        n_equilibration_steps=n_steps // 4,
        n_production_steps=n_steps - n_steps // 4,
        frame_interval_steps=10,
        checkpoint_interval_steps=500,
        store_velocities=False,
    )
    start = time.monotonic()
    with contextlib.ExitStack() as stack:
        folder = Path(keep or stack.enter_context(tempfile.TemporaryDirectory()))
        path = run_langevin_md(ideal, calculator, settings, folder / "md.h5", record_labels=True)
        with h5py.File(path, "r") as handle:
            positions = np.asarray(handle["positions"], float)
            forces = np.asarray(handle["forces"], float)
    residual = predict_forces([ideal], calculator, progress=False)[0]
    vectors = positions - supercell.positions
    displacements = np.linalg.norm(vectors, axis=2)
    by_species = ", ".join(
        f"{symbol} rms {np.sqrt(np.mean(displacements[:, mask] ** 2)):.3f} max {displacements[:, mask].max():.2f}"
        for symbol in dict.fromkeys(supercell.symbols)
        for mask in [np.array(supercell.symbols) == symbol]
    )
    print(
        f"  MD {md_ps:g} ps at {temperature_K:g} K ({len(positions)} frames, {time.monotonic() - start:.0f} s, "
        f"trajectory {path}): displacement from the sites (A): {by_species}",
        flush=True,
    )
    # where the atoms sit on average (the cell's drift removed): a solid vibrating about the ideal sites has
    # mean displacements of the order of rms / sqrt(frames); a structure turning into another has more
    masses = np.asarray(supercell.masses)
    vectors = vectors - (np.einsum("a,fad->fd", masses, vectors) / masses.sum())[:, None, :]
    half = len(vectors) // 2
    static = [
        np.linalg.norm(part.mean(axis=0), axis=1) for part in (vectors[:half], vectors[half:])
    ]
    print(
        f"  mean displacement of each atom from its site (A), first / second half of the run: rms "
        f"{np.sqrt(np.mean(static[0] ** 2)):.3f} / {np.sqrt(np.mean(static[1] ** 2)):.3f}, largest "
        f"{static[0].max():.2f} / {static[1].max():.2f}",
        flush=True,
    )
    try:
        effective = snapshot_force_constants(
            ph, positions, forces, residual, temperature_K, max_displacement_A=max_displacement_A
        )
    except AtomsLeftTheirSites as exc:
        print(f"  MD arbiter: {exc}")
        return
    verdict, _ = stability_screen(effective)
    print(
        f"  MD arbiter (TDEP): {'stable' if verdict.dynamically_stable else 'unstable'}, "
        f"lowest {verdict.min_frequency_thz:.2f} THz ({verdict.reason})"
    )


if __name__ == "__main__":
    main()
