"""Which force field should the screen use? Every packaged model (and the fine-tuned ones that exist) on the
phononDB dev archives and on the validation materials of phonondb_train (``benchmark.splits``: one formula in
five, never trained on): stability agreement with DFT on the DFT-stable and the DFT-unstable structures apart,
balanced accuracy, force and IFC2 RMSE, CPU seconds per structure (the force evaluations on the archive's
displaced supercells, one model at a time in one process).

Resumable: each (set, archive, model) evaluation is appended to benchmarks/records/model_selection.jsonl as it
finishes and skipped when rerun, so a run spread over sittings (or machines) adds only what is missing.

    .venv/bin/python benchmarks/model_selection.py [--models chgnet,7net-0] [--sets dev,validation] [--threads 1]
    .venv/bin/python benchmarks/model_selection.py --table-only      # the tables of what the record holds
    .venv/bin/python benchmarks/model_selection.py --table-only --write-readme   # and put the table in README.md

Prints, per set, one row per model, and the README's Markdown table of the validation set (with the winner by
``benchmark.forces.choose_model``: best balanced accuracy, speed breaking ties within 2 points).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

RECORD = Path(__file__).resolve().parent / "records" / "model_selection.jsonl"
README_START, README_END = (
    "<!-- model-selection table: start -->",
    "<!-- model-selection table: end -->",
)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def archives_of(set_name: str) -> list[Path]:
    from na_lattice_flows.benchmark.splits import split_by_material

    if set_name == "dev":
        return sorted((SHARED / "phonondb_dev").glob("*.tar.lzma"))
    if set_name == "validation":
        return split_by_material((SHARED / "phonondb_train").glob("*.tar.lzma"))["validation"]
    raise SystemExit(f"--sets: unknown set {set_name!r} (dev, validation)")


def recorded() -> list[dict]:
    if not RECORD.is_file():
        return []
    return [json.loads(line) for line in RECORD.read_text().splitlines() if line.strip()]


def run(models: list[str], sets: list[str]) -> None:
    from tqdm.auto import tqdm

    from na_lattice_flows.benchmark.forces import evaluate_model
    from na_lattice_flows.models import get_calculator
    from na_lattice_flows.phonons.force_constants import fit_force_constants
    from na_lattice_flows.phonons.references import load_reference
    from na_lattice_flows.phonons.stability import stability_screen

    done = {(r["set"], r["structure"], r["model"]) for r in recorded()}
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    for set_name in sets:
        for path in tqdm(archives_of(set_name), desc=set_name, unit="archive"):
            name = path.name.split(".")[0]
            todo = [m for m in models if (set_name, name, m) not in done]
            if not todo:
                continue
            reference = load_reference(path)
            dft_ph = fit_force_constants(reference)
            dft_verdict = stability_screen(dft_ph)[0]
            for model in todo:
                calculator = get_calculator(model)
                evaluation, _, _ = evaluate_model(reference, model, calculator, dft_ph, dft_verdict)
                row = {"set": set_name, **json.loads(evaluation.model_dump_json())}
                with RECORD.open("a") as record:
                    record.write(json.dumps(row) + "\n")


def tables() -> str:
    import pandas as pd

    from na_lattice_flows.benchmark.forces import ModelEvaluation, choose_model, summarize_complete

    rows = recorded()
    markdown = ""
    for set_name in dict.fromkeys(r["set"] for r in rows):
        evaluations = [
            ModelEvaluation.model_validate({k: v for k, v in r.items() if k != "set"})
            for r in rows
            if r["set"] == set_name
        ]
        # the models that finished every archive, on those
        summary, incomplete = summarize_complete(evaluations)
        structures = {e.structure for e in summary.per_structure}
        frame = pd.DataFrame.from_dict(
            {m: v.model_dump() for m, v in summary.models.items()}, orient="index"
        )
        frame = frame.loc[summary.ranking]
        print(
            f"\n{set_name}: {len(structures)} archives with every model; winner (choose_model): {choose_model(summary.models)}"
        )
        columns = [
            "n_dft_stable",
            "agreement_dft_stable",
            "n_dft_unstable",
            "agreement_dft_unstable",
            "balanced_accuracy",
            "force_rmse_meV_per_A",
            "ifc2_rmse_eV_per_A2",
            "seconds_per_structure",
        ]
        print(frame[columns].round(3).to_string())
        if incomplete:
            print(
                "not finished (left out): "
                + ", ".join(f"{m} ({n} archives)" for m, n in incomplete.items())
            )
        if set_name == "validation":
            markdown = markdown_table(summary, len(structures))
    return markdown


def markdown_table(summary, n_archives: int) -> str:
    from na_lattice_flows.benchmark.forces import choose_model

    winner = choose_model(summary.models)
    lines = [
        f"Validation materials ({n_archives} phononDB archives of phonondb_train, none trained on), 1 CPU thread:",
        "",
        (
            "| model | DFT-stable called stable | DFT-unstable called unstable | balanced accuracy | force RMSE (meV/A) "
            "| IFC2 RMSE (eV/A^2) | CPU s per structure |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name in summary.ranking:
        m = summary.models[name]
        stable = (
            f"{round(m.agreement_dft_stable * m.n_dft_stable)}/{m.n_dft_stable} ({100 * m.agreement_dft_stable:.0f} %)"
            if m.n_dft_stable
            else "-"
        )
        unstable = (
            f"{round(m.agreement_dft_unstable * m.n_dft_unstable)}/{m.n_dft_unstable} ({100 * m.agreement_dft_unstable:.0f} %)"
            if m.n_dft_unstable
            else "-"
        )
        label = f"**{name}** (default)" if name == winner else name
        lines.append(
            f"| {label} | {stable} | {unstable} | {m.balanced_accuracy:.3f} | {m.force_rmse_meV_per_A:.1f} "
            f"| {m.ifc2_rmse_eV_per_A2:.4f} | {m.seconds_per_structure:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    global RECORD  # recorded() and run() read it
    from na_lattice_flows.models import CHGNET_NA_FILE, PACKAGED_MODELS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_models = [*PACKAGED_MODELS, *(["chgnet-na"] if CHGNET_NA_FILE.is_file() else [])]
    parser.add_argument("--models", default=",".join(default_models))
    parser.add_argument("--sets", default="validation,dev")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (two processes per 2 cores at most)"
    )
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument(
        "--record",
        type=Path,
        default=RECORD,
        help="where the evaluations go (default: the repository's record; another file for a trial model)",
    )
    parser.add_argument(
        "--write-readme",
        action="store_true",
        help="replace README.md's model-selection table by this one",
    )
    args = parser.parse_args()
    RECORD = args.record
    warnings.filterwarnings("ignore")
    if not args.table_only:
        import torch

        torch.set_num_threads(args.threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        start = time.perf_counter()
        run(args.models.split(","), args.sets.split(","))
        print(f"run: {time.perf_counter() - start:.0f} s")
    markdown = tables()
    print(markdown)
    if args.write_readme:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        text = readme.read_text()
        start, end = text.index(README_START) + len(README_START), text.index(README_END)
        readme.write_text(text[:start] + "\n" + markdown + "\n" + text[end:])
        print(f"written to {readme}")


if __name__ == "__main__":
    main()
