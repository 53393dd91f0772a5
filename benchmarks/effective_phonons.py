"""What stability at the screening temperature costs, and what it rescues: for each structure, the harmonic step
(30 random-displacement supercells, symfc, the stability screen) and, for the harmonically unstable ones, the
self-consistent effective phonons at T (``phonons.finite_temperature.stability_at_temperature``, the screen's
``--stability finite-temperature``), both with one MLP on one CPU thread.

    .venv/bin/python benchmarks/effective_phonons.py --set demo                 # NaCl, Na2S, Na3OCl, cubic Na3PS4, Na3SbS4
    .venv/bin/python benchmarks/effective_phonons.py --set pool --n 12 --seed 0 # a seeded sample of the candidate pool
    .venv/bin/python benchmarks/effective_phonons.py --table-only

Resumable: one line per (set, structure, model, temperature) in benchmarks/records/effective_phonons.jsonl,
skipped when rerun. Prints one row per structure (seconds of each step, the verdicts, the lowest effective
frequency, the iterations) and the fraction of the harmonically unstable structures that are stable at T.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import warnings
from pathlib import Path

RECORD = Path(__file__).resolve().parent / "records" / "effective_phonons.jsonl"
POOL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "candidates"
    / "na_mp2018_phonondb.csv"
)
MAX_SUPERCELL_ATOMS = 160  # a CPU benchmark: larger cells are left to GPU workers


def structures_of(set_name: str, n: int, seed: int) -> list:
    from na_lattice_flows.candidates.demo_set import demo_candidates
    from na_lattice_flows.candidates.loaders import load_file
    from na_lattice_flows.candidates.screen import screen_candidates
    from na_lattice_flows.structure.supercells import paper_supercell

    if set_name == "demo":
        return demo_candidates()
    if not POOL.is_file():
        raise SystemExit(f"--set pool: {POOL} is absent")
    passing = screen_candidates(load_file(POOL)).accepted
    small = [c for c in passing if paper_supercell(c.structure).n_atoms <= MAX_SUPERCELL_ATOMS]
    return random.Random(seed).sample(small, min(n, len(small)))


def recorded() -> list[dict]:
    return (
        [json.loads(line) for line in RECORD.read_text().splitlines() if line.strip()]
        if RECORD.is_file()
        else []
    )


def evaluate(candidate, model: str, temperature_K: float) -> dict:
    from na_lattice_flows.doping.hosts import relax_in_space_group
    from na_lattice_flows.models import get_calculator
    from na_lattice_flows.phonons.finite_temperature import (
        EffectivePhononSettings,
        stability_at_temperature,
    )
    from na_lattice_flows.phonons.force_constants import fit_force_constants
    from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference
    from na_lattice_flows.phonons.stability import stability_screen
    from na_lattice_flows.structure.supercells import paper_supercell

    calculator = get_calculator(model)
    structure = relax_in_space_group(candidate.structure, calculator)
    supercell = paper_supercell(structure)
    start = time.perf_counter()
    reference = random_displacement_reference(
        structure,
        supercell.supercell_matrix,
        lambda cells: predict_forces(cells, calculator),
        name=candidate.candidate_id,
    )
    harmonic, ph = stability_screen(fit_force_constants(reference))
    row = {
        "structure": candidate.candidate_id,
        "formula": candidate.formula,
        "model": model,
        "temperature_K": temperature_K,
        "n_atoms_supercell": supercell.n_atoms,
        "harmonic_seconds": time.perf_counter() - start,
        "harmonically_stable": harmonic.dynamically_stable,
        "harmonic_reason": harmonic.reason,
    }
    if harmonic.dynamically_stable:
        return row
    start = time.perf_counter()
    verdict, _, record = stability_at_temperature(
        ph, harmonic, calculator, EffectivePhononSettings(temperature_K=temperature_K)
    )
    return row | {
        "effective_seconds": time.perf_counter() - start,
        "stable_at_T": verdict.dynamically_stable,
        "min_effective_frequency_thz": verdict.min_frequency_thz if record else None,
        "iterations": len(record.iterations) if record else None,
        "reason_at_T": verdict.reason,
    }


def table() -> None:
    import pandas as pd

    rows = pd.DataFrame(recorded())
    if rows.empty:
        print("(no rows)")
        return
    for (set_name, model, temperature), group in rows.groupby(["set", "model", "temperature_K"]):
        print(f"\n{set_name}, {model}, {temperature:g} K:")
        columns = [
            "structure",
            "formula",
            "n_atoms_supercell",
            "harmonic_seconds",
            "harmonically_stable",
            "effective_seconds",
            "iterations",
            "stable_at_T",
            "min_effective_frequency_thz",
        ]
        print(group.reindex(columns=columns).round(2).to_string(index=False))
        unstable = group[~group["harmonically_stable"].astype(bool)]
        rescued = (
            int(unstable["stable_at_T"].fillna(False).astype(bool).sum()) if len(unstable) else 0
        )
        ratio = (
            (unstable["effective_seconds"] / unstable["harmonic_seconds"]).mean()
            if len(unstable)
            else float("nan")
        )
        print(
            f"harmonically unstable: {len(unstable)} of {len(group)}; stable at {temperature:g} K: {rescued} of {len(unstable)}; "
            f"effective / harmonic seconds: {ratio:.1f}x"
        )


def main() -> None:
    from na_lattice_flows.settings import SETTINGS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", choices=["demo", "pool"], default="demo")
    parser.add_argument("--n", type=int, default=12, help="pool structures sampled (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=SETTINGS.default_model)
    parser.add_argument("--temperature", type=float, default=SETTINGS.temperature_K)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (two processes per 2 cores at most)"
    )
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if not args.table_only:
        import torch
        from tqdm.auto import tqdm

        torch.set_num_threads(args.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        done = {(r["set"], r["structure"], r["model"], r["temperature_K"]) for r in recorded()}
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        for candidate in tqdm(
            structures_of(args.set, args.n, args.seed), desc=args.set, unit="structure"
        ):
            if (args.set, candidate.candidate_id, args.model, args.temperature) in done:
                continue
            try:
                row = evaluate(candidate, args.model, args.temperature)
            except Exception as exc:  # noqa: BLE001 - one structure that fails is recorded with its reason; the others go on
                row = {
                    "structure": candidate.candidate_id,
                    "formula": candidate.formula,
                    "model": args.model,
                    "temperature_K": args.temperature,
                    "error": f"{type(exc).__name__}: {exc}",
                }
            with RECORD.open("a") as record:
                record.write(json.dumps({"set": args.set, **row}) + "\n")
    table()


if __name__ == "__main__":
    main()
