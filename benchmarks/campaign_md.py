"""The first real campaign with MD (issue 32): pool structures that are dynamically stable at 800 K, plus known
fast and poor Na conductors as controls, through relaxation, phonons, the stability gate at 800 K
(`--stability finite-temperature`) and NVT MD at 800 K (preset `campaign`: 2.1 ps equilibration, 10.05 ps
production), all with one model, as a user runs it: `na-flows submit`, `na-flows run` workers, `na-flows results`.

It runs in sittings. Each sitting resumes what the store in --workdir holds; on a fresh machine (no store) it
submits only what the record lacks. The record, `benchmarks/records/campaign-md-800K.csv`, gets one row per
finished workflow (the columns of `na-flows results --format csv`, plus `role`, `code_version`, `worker_s`) as
the workflows finish, and each structure's MSD(t) goes to `benchmarks/records/campaign-md-800K/<id>.csv`:
commit them as they grow.

The controls get MD whatever the gate says (`--md-on-unstable`), so that their D ranks them; the gate's verdict
on them is in their rows. The sample: the pool's rows in a seeded random order, those whose paper supercell has at most
--max-supercell-atoms atoms (MD cost grows with it; 86 % of the pool has <= 200), submitted in waves of --wave
rows while the structures judged stable, plus those not judged yet, fall short of --target-stable.

    .venv/bin/python benchmarks/campaign_md.py --workdir ~/na_campaign_md [--workers 2] [--hours 2.5]

Each worker's torch uses one thread (two workers on two cores). `kill -STOP`/`kill -CONT` on the workers pauses
them while the machine is needed for something else.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from dft_verdicts import dft_stable_ids, read_verdicts  # benchmarks/, this script's folder
from pymatgen.core import Structure

from na_lattice_flows.candidates.demo_set import control_candidates, control_compounds
from na_lattice_flows.execution.launching import fw_state_counts, recover_lost_runs
from na_lattice_flows.execution.queries import md_curves
from na_lattice_flows.execution.store_config import resolve_settings
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.workers import live_workers
from na_lattice_flows.md.diffusion import (
    DEFAULT_FIT_WINDOW,
    fit_window_mask,
    msd_growth,
    transport_convergence,
)
from na_lattice_flows.structure.supercells import paper_supercell

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_POOL = REPOSITORY.parent / "shared" / "data" / "candidates" / "na_mp2018_phonondb.csv"
RECORD = REPOSITORY / "benchmarks" / "records" / "campaign-md-800K.csv"
# relaxed cells of structures that passed the gate but whose MD has not finished: a later sitting on a fresh
# machine starts them from there (their relaxation is then one step, and the MD follows the phonons)
RELAXED = RECORD.with_suffix("") / "relaxed"
NA_FLOWS = Path(sys.executable).with_name("na-flows")
FINISHED = ("COMPLETED", "FIZZLED")
UNFINISHED = ("READY", "WAITING", "RUNNING", "RESERVED", "PAUSED")
MD_REFERENCE_ATOMS = (
    120  # --md-minutes is for this many atoms; an MLP step costs in proportion to them
)
MSD_POINTS = 200  # per MSD(t) curve in the record
# the effective phonons' per-mode cap became a trust region (0.25 A at the start); the runaway guard waits a window
GATE_FIXED = "0.6.0"
LAST_UNSTAMPED = "0.6.0"  # from 0.7 the phonon step records its release (stability_code_version)
MODEL = "7net-0"  # NaFlowsSettings.default_model: the winner on stability verdicts (README, model selection)
SUBMIT_OPTIONS = (
    "--model",
    MODEL,
    "--stability",
    "finite-temperature",
    "--temperature",
    "800",
    "--md-preset",
    "campaign",
    "--md-temperatures",
    "800",
    # the same minimum as atomate2's FIRE in 2-2.6x fewer steps (benchmarks/relax_optimizers.py); the first
    # sitting's first waves relaxed with FIRE (the record's relax_optimizer column says which)
    "--relax-optimizer",
    "BFGS",
)


def na_flows(*arguments: str, expected: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run([str(NA_FLOWS), *arguments], capture_output=True, text=True, check=False)
    if done.returncode not in expected:
        raise SystemExit(
            f"na-flows {' '.join(arguments)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def pool_order(
    pool: Path, seed: int, max_supercell_atoms: int, first: set[str] = frozenset()
) -> list[dict]:
    """The pool's rows in the seeded random order, those whose paper supercell fits; the rows whose ids are in
    ``first`` (those DFT calls stable, from sitting 3 on) ahead of the rest, each part in the seeded order."""
    csv.field_size_limit(10**7)
    with pool.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(seed).shuffle(rows)
    # a stable sort: the seeded order within each part
    rows.sort(key=lambda row: row["material_id"] not in first)
    return [
        row
        for row in rows
        if paper_supercell(
            Structure.from_str(row["poscar_unitcell_phonondb"], fmt="poscar")
        ).n_atoms
        <= max_supercell_atoms
    ]


def read_record(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["candidate_id", "role"])


def store_results(store: Path) -> pd.DataFrame:
    """`na-flows results --format csv` of the store: the latest workflow of each structure (a structure
    judged again has two; the earlier stays in the store, and in `results`)."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "results.csv"
        na_flows("results", "--workdir", str(store), "--format", "csv", "--output", str(output))
        if not output.stat().st_size:
            return pd.DataFrame()
        table = pd.read_csv(output)
        # campaign ids begin with their submission time
        return table.sort_values("campaign_id", kind="stable").drop_duplicates(
            "candidate_id", keep="last"
        )


def worker_seconds(settings) -> dict[str, float]:
    """Seconds of worker time per candidate: the runtimes of its jobs' launches (a killed run included)."""
    with open_session(settings, read_only=True) as session:
        launchpad = session.launchpad
        candidate_of_fw = {}
        for workflow in launchpad.workflows.find({}, {"nodes": 1, "metadata.candidate_id": 1}):
            for fw_id in workflow["nodes"]:
                candidate_of_fw[fw_id] = workflow.get("metadata", {}).get("candidate_id")
        seconds: Counter = Counter()
        for launch in launchpad.launches.find({}, {"fw_id": 1, "runtime_secs": 1}):
            seconds[candidate_of_fw.get(launch["fw_id"])] += launch.get("runtime_secs") or 0.0
    return dict(seconds)


def write_msd_curves(settings, candidate_ids: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open_session(settings, read_only=True) as session:
        session.job_store.connect()
        for candidate_id in candidate_ids:
            path = folder / f"{candidate_id}.csv"
            curves = None if path.exists() else md_curves(session, candidate_id, 800.0)
            if curves and curves.get("msd_xyz_Na") is not None:
                times, msd = np.asarray(curves["times_ps"]), np.asarray(curves["msd_xyz_Na"])
                keep = np.unique(np.linspace(0, len(times) - 1, MSD_POINTS).astype(int))
                pd.DataFrame(
                    {
                        "time_ps": times[keep],
                        **{f"msd_na_{axis}_A2": msd[keep, i] for i, axis in enumerate("xyz")},
                    }
                ).to_csv(path, index=False, float_format="%.5g")


def update_record(
    store: Path, settings, roles: dict[str, str], record: Path, table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The record: the finished workflows of the store (``table``: its `results`, read here if not given),
    and the rows of earlier sittings the store lacks."""
    earlier = read_record(record)
    table = store_results(store) if table is None else table
    if table.empty:
        return earlier
    finished = table[table["state"].isin(FINISHED)].copy()
    finished["role"] = finished["candidate_id"].map(roles).fillna("sample")
    # the version that judged a workflow: its phonon step's (stamped since 0.7), else as recorded before, else
    # the last release that did not stamp it (not the driver's: a worker may run an older release than it)
    recorded_version = (
        dict(zip(earlier["workflow_id"], earlier["code_version"]))
        if {"workflow_id", "code_version"} <= set(earlier)
        else {}
    )
    finished["code_version"] = (
        finished["stability_code_version"]
        .fillna(finished["workflow_id"].map(recorded_version))
        .fillna(LAST_UNSTAMPED)
    )
    seconds = worker_seconds(settings)
    finished["worker_s"] = finished["candidate_id"].map(seconds).round(1)
    dft_verdicts = {key: row["dft_stable"] == "True" for key, row in read_verdicts().items()}
    kept = earlier[~earlier["candidate_id"].isin(finished["candidate_id"])]
    merged = pd.concat([kept, finished], ignore_index=True).sort_values(["role", "candidate_id"])
    # phononDB's PBEsol verdict at 0 K where an archive here has it (benchmarks/dft_verdicts.py)
    merged["dft_stable_phonondb"] = merged["candidate_id"].map(dft_verdicts)
    with_md = finished[finished["D_avg_A2_per_ps"].notna()]["candidate_id"].tolist()
    write_msd_curves(settings, with_md, record.with_suffix(""))
    record.parent.mkdir(parents=True, exist_ok=True)
    judge_transport_from_curves(merged, record.with_suffix("")).to_csv(record, index=False)
    return merged


def judge_transport_from_curves(table: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """``transport_converged`` / ``transport_note`` of every row with an MSD curve in ``folder``, from that curve
    (``md.diffusion.msd_growth`` over the fit window): runs before 0.8 were judged by their length alone, and
    the 200 points of a recorded curve judge them all alike."""
    table = table.astype({"transport_converged": object, "transport_note": object})
    for index, row in table.iterrows():
        path = folder / f"{row['candidate_id']}.csv"
        if not path.is_file() or pd.isna(row.get("D_avg_A2_per_ps")):
            continue
        curve = pd.read_csv(path)
        times = curve["time_ps"].to_numpy()
        total = curve[[f"msd_na_{axis}_A2" for axis in "xyz"]].sum(axis=1).to_numpy()
        window = fit_window_mask(times, DEFAULT_FIT_WINDOW)
        converged, note = transport_convergence(
            row["md_production_ps"], *msd_growth(times[window], total[window])
        )
        table.loc[index, ["transport_converged", "transport_note"]] = [converged, note]
    return table


def submit(store: Path, inputs: list[Path], *extra: str) -> None:
    output = na_flows(
        "submit",
        *map(str, inputs),
        "--workdir",
        str(store),
        *SUBMIT_OPTIONS,
        *extra,
        expected=(0, 3),
    )
    print(next((line for line in output.splitlines() if line.startswith("Campaign ")), output))


def write_rows(rows: list[dict], path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def save_relaxed(settings, roles: dict[str, str], finished: set[str]) -> None:
    """Keep the relaxed cell of every structure whose MD is due (a control, or a sample structure its phonons
    call stable) and not finished, so that a fresh machine need not relax it again."""
    from na_lattice_flows.execution.queries import phonon_output

    RELAXED.mkdir(parents=True, exist_ok=True)
    for candidate_id in finished:  # its row is in the record: nothing left to resume
        (RELAXED / f"{candidate_id}.cif").unlink(missing_ok=True)
    with open_session(settings, read_only=True) as session:
        store = session.job_store
        store.connect()
        for document in store.query(
            {"name": {"$regex": "^mlp relax "}}, properties=["name", "output.structure"]
        ):
            candidate_id = document["name"].removeprefix("mlp relax ")
            path = RELAXED / f"{candidate_id}.cif"
            if candidate_id in finished or path.exists() or not document.get("output"):
                continue
            if candidate_id not in roles:
                phonons = phonon_output(session, candidate_id)
                if not (phonons and phonons["output"]["stability"]["dynamically_stable"]):
                    continue
            Structure.from_dict(document["output"]["structure"]).to(filename=str(path))


def relaxed_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted(RELAXED.glob("*.cif"))} if RELAXED.is_dir() else {}


def submit_relaxed(store: Path, roles: dict[str, str], known: set[str]) -> None:
    """Sample structures an earlier sitting relaxed and passed, whose rows the record lacks: submitted from their
    relaxed cells (the controls: ``submit_controls``)."""
    files = [p for cid, p in relaxed_files().items() if cid not in known and cid not in roles]
    if files:
        print(f"resuming {len(files)} gated structures from their relaxed cells")
        submit(store, files)


def md_cell(structure: Structure) -> Structure:
    """The conventional or the primitive cell of a control, whichever has the smaller paper supercell: the
    pool's structures come as Materials Project gives them (primitive for rock salt), and the MD's cost grows
    with the supercell's atoms. Rock-salt NaCl and NaF: 128 atoms from the 2-atom cell instead of 216 from the
    cubic one (their MD fits in a sitting on one thread); the cubic thio salts keep their 16-atom cells (128,
    not 216 from the bcc primitive)."""
    primitive = structure.get_primitive_structure()
    if paper_supercell(primitive).n_atoms < paper_supercell(structure).n_atoms:
        return primitive
    return structure


def submit_controls(workdir: Path, store: Path, known: set[str]) -> None:
    folder = workdir / "controls"
    folder.mkdir(exist_ok=True)
    files = []
    relaxed = relaxed_files()
    for candidate in control_candidates():
        if candidate.candidate_id in known:
            continue
        structure = (
            Structure.from_file(relaxed[candidate.candidate_id])
            if candidate.candidate_id in relaxed
            else candidate.structure
        )
        path = folder / f"{candidate.candidate_id}.cif"
        md_cell(structure).to(filename=str(path))
        files.append(path)
    if files:
        # MD whatever the gate says: where the known conductors rank needs their D; the gate's verdict on
        # them is recorded beside it (dynamically_stable, stability_reason)
        submit(store, files, "--md-on-unstable")


def stale_verdicts(record: pd.DataFrame, workdir: Path) -> list[str]:
    """Sample structures whose effective phonons failed ("ran away", "diverged", "not converged") with the
    gate before GATE_FIXED and that were not submitted again yet: their draws were capped at 1 A per mode from
    the harmonic start (README, "Stability at the screening temperature"). Converged verdicts stand: the
    trust region changes the loop's start, not its fixed point at the 1 A ceiling."""
    from packaging.version import Version

    if record.empty or "stability_reason" not in record:
        return []
    done_path = workdir / "rejudged_ids.txt"
    done = set(done_path.read_text().split()) if done_path.exists() else set()
    reason = record["stability_reason"].fillna("")
    before = record["code_version"].map(lambda v: Version(str(v)) < Version(GATE_FIXED))
    stale = record[
        (record["role"] == "sample")
        & reason.str.contains("ran away|diverged in iteration|not converged in")
        & before
    ]
    return sorted(set(stale["candidate_id"]) - done)


def rejudge(settings, workdir: Path, store: Path, order: list[dict], stale: list[str]) -> None:
    """Submit the stale structures again (``--force``): from their relaxed cells where the store has them
    (the relaxation is then one step), from their pool rows otherwise (a fresh machine)."""
    folder = workdir / "rejudge"
    folder.mkdir(exist_ok=True)
    cells = []
    with open_session(settings, read_only=True) as session:
        session.job_store.connect()
        for candidate_id in stale:
            document = session.job_store.query_one(
                {"name": f"mlp relax {candidate_id}"}, properties=["output.structure"]
            )
            if document and document.get("output"):
                path = folder / f"{candidate_id}.cif"
                Structure.from_dict(document["output"]["structure"]).to(filename=str(path))
                cells.append(path)
    from_cells = {path.stem for path in cells}
    rows = [row for row in order if row["material_id"] in set(stale) - from_cells]
    inputs = cells + ([write_rows(rows, folder / "pool_rows.csv")] if rows else [])
    if inputs:
        print(
            f"judging {len(stale)} structures again with the gate of {GATE_FIXED}: {', '.join(stale)}"
        )
        submit(store, inputs, "--force")
    with (workdir / "rejudged_ids.txt").open("a") as handle:
        handle.writelines(f"{candidate_id}\n" for candidate_id in stale)


def control_roles() -> dict[str, str]:
    return {
        f"control-{c.name}": "positive-control" if c.expected_conductor else "negative-control"
        for c in control_compounds()
    }


def next_wave(
    args, workdir: Path, store: Path, order: list[dict], table: pd.DataFrame, expected: set[str]
) -> bool:
    """Submit the next --wave rows of the order that neither the store nor the record holds, when the sample's
    stable structures plus those not judged yet that are ``expected`` to pass (DFT-stable) fall short of the
    target; whether it submitted. (The random sample's 1 in 31 pass: counting its unjudged rows as passes
    held back every wave of sitting 2.)"""
    sample = table[table["role"] == "sample"] if len(table) else table
    n_stable = int((sample.get("dynamically_stable") == True).sum()) if len(sample) else 0
    n_unjudged = (
        int((sample["dynamically_stable"].isna() & sample["candidate_id"].isin(expected)).sum())
        if "dynamically_stable" in sample
        else 0
    )
    if n_stable + n_unjudged >= args.target_stable:
        return False
    # the store and the record hold what was submitted and kept; this file also what the screen refused
    tried_path = workdir / "submitted_ids.txt"
    tried = set(tried_path.read_text().split()) if tried_path.exists() else set()
    known = tried | set(relaxed_files()) | (set(table["candidate_id"]) if len(table) else set())
    wave = [row for row in order if row["material_id"] not in known][: args.wave]
    if not wave:
        return False
    path = write_rows(wave, workdir / f"wave_{len(known)}.csv")
    with tried_path.open("a") as handle:
        handle.writelines(f"{row['material_id']}\n" for row in wave)
    print(
        f"sample: {n_stable} stable, {n_unjudged} DFT-stable not judged yet: submitting {len(wave)} more"
    )
    submit(store, [path])
    return True


def all_rows(
    store: Path, record: Path, roles: dict[str, str], table: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every workflow the campaign holds (store and record; ``table``: the store's `results`, read here if
    not given), with its role and verdict so far."""
    if table is None:
        table = store_results(store) if (store / "launchpad.sqlite").exists() else pd.DataFrame()
    earlier = read_record(record)
    rows = pd.concat([earlier[~earlier["candidate_id"].isin(table.get("candidate_id", []))], table])
    rows["role"] = rows["candidate_id"].map(roles).fillna("sample")
    if "dynamically_stable" not in rows:
        rows["dynamically_stable"] = pd.NA
    return rows


def start_worker(store: Path, log_dir: Path, number: int, threads: int = 1) -> subprocess.Popen:
    log = (log_dir / f"worker_{number}.log").open("a")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.Popen(
        [str(NA_FLOWS), "run", "--workdir", str(store)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


# jobs of seconds that complete a row once its MD is done (jobflow's store_inputs keeps a replaced job's output)
LIGHT_JOBS = ("transport summary", "screening summary", "store_inputs", "md gate")


def md_atoms(session, candidate_id: str) -> int | None:
    """Atoms of ``candidate_id``'s MD cell: the paper supercell of its relaxed cell (None before relaxation)."""
    document = session.job_store.query_one(
        {"name": f"mlp relax {candidate_id}"}, properties=["output.structure"]
    )
    if not (document and document.get("output")):
        return None
    return paper_supercell(Structure.from_dict(document["output"]["structure"])).n_atoms


def hold_long_md(settings, left_min: float, md_minutes: float) -> list[str]:
    """Pause (FireWorks' PAUSED) every MD job waiting that would not finish in the ``left_min`` minutes this
    sitting has left, at ``md_minutes`` per MD_REFERENCE_ATOMS atoms: a fresh machine loses a run cut off at
    the sitting's end (the store goes with the machine; the record keeps finished rows only), so a 216-atom
    rock salt started with 2 h left (~3.3 h of MD on one thread) was worker time thrown away. The next sitting
    resumes them (``resume_held_md``). The candidate ids it paused."""
    held = []
    with open_session(settings) as session:
        session.job_store.connect()
        launchpad = session.launchpad
        for firework in launchpad.fireworks.find(
            {"state": {"$in": ["READY", "WAITING"]}, "name": {"$regex": "^mlp md "}},
            {"fw_id": 1, "spec.candidate_id": 1},
        ):
            candidate_id = str(firework["spec"].get("candidate_id", ""))
            n_atoms = md_atoms(session, candidate_id)
            if n_atoms and md_minutes * n_atoms / MD_REFERENCE_ATOMS > left_min:
                launchpad.pause_fw(firework["fw_id"])
                held.append(candidate_id)
    return held


def resume_held_md(settings) -> int:
    """Resume the MD jobs an earlier sitting paused (``hold_long_md``); how many."""
    with open_session(settings) as session:
        launchpad = session.launchpad
        paused = [fw["fw_id"] for fw in launchpad.fireworks.find({"state": "PAUSED"}, {"fw_id": 1})]
        for fw_id in paused:
            launchpad.resume_fw(fw_id)
    return len(paused)


def prioritise(settings, md_fits: bool, preferred: set[str]) -> int:
    """FireWorks priorities (as `lpad set_priority` sets them) on the jobs waiting: a structure's MD, once its
    gate has let it through, before more screening, and the controls' steps before the sample's, so that
    finished rows come steadily instead of all at the end (jobs otherwise run in the order they were made, and
    the gate makes the MD jobs last). When an MD run would no longer finish in this sitting (``md_fits``
    False: a fresh machine would lose it), the screening steps go first instead: an unstable verdict is a
    finished row. The ``preferred`` sample structures (DFT-stable) are screened before the rest of the
    sample. How many it set."""
    with open_session(settings) as session:
        launchpad = session.launchpad
        waiting = launchpad.fireworks.find(
            {"state": {"$in": ["READY", "WAITING"]}},
            {"fw_id": 1, "name": 1, "spec.candidate_id": 1, "spec._priority": 1},
        )
        chosen = []
        for firework in waiting:
            name, candidate = firework["name"], str(firework["spec"].get("candidate_id", ""))
            if name.startswith(LIGHT_JOBS):
                priority = 30  # seconds each, and they finish rows
            elif name.startswith("mlp md"):
                priority = 10
            elif not md_fits:
                priority = 20
            elif candidate.startswith("control-"):
                priority = 5
            elif candidate in preferred:
                priority = 3
            else:
                continue
            if firework["spec"].get("_priority") != priority:
                chosen.append((firework["fw_id"], priority))
        for fw_id, priority in chosen:
            launchpad.set_priority(fw_id, priority)
    return len(chosen)


def job_counts(settings) -> Counter:
    with open_session(settings, read_only=True) as session:
        return Counter(fw_state_counts(session))


# the descriptors the README reports against D (the study's headline: the Na phonon MSD)
REPORTED = ["msd_na_avg_A2", "acoustic_cutoff_thz", "na_pdos_center_thz", "na_vdos_center_thz"]
# cubic Na3PS4 at 800 K by AIMD (pymatgen-analysis-diffusion's test data, zero-intercept fit)
NA3PS4_AIMD_800K_A2_PER_PS = 0.3


def verdict_kind(reason: str) -> str:
    """The kind of a stability verdict, from its reason: what the effective phonons at 800 K made of it."""
    for kind in ("ran away", "diverged", "not converged"):
        if kind in reason:
            return f"unstable (effective phonons {kind})"
    # "(effective phonons at 800 K, 14 iterations)": the count apart, one kind
    return re.sub(r", \d+ iterations", "", reason.split(":")[0])


def summarize_record(record: Path) -> None:
    """The README's figures from the record alone (a fresh machine has nothing else): the stable fraction, the
    correlations of D with the descriptors and their 95 % bootstrap intervals over the dynamically stable
    structures with MD, where the controls rank, worker time per structure, Na3PS4 against AIMD, the D model."""
    from na_lattice_flows.analysis.dataset import correlations, dataset, usable
    from na_lattice_flows.analysis.ml import NotEnoughData, train_diffusion_models

    table = dataset(read_record(record))
    sample = table[table["role"] == "sample"]
    judged = sample["dynamically_stable"].dropna().astype(bool)
    print(
        f"{len(table)} rows ({len(sample)} sample, {len(table) - len(sample)} controls); sample judged: "
        f"{len(judged)}, dynamically stable at 800 K: {int(judged.sum())} ({100 * judged.mean():.0f} %)"
    )
    outcomes = sample["stability_reason"].dropna().map(verdict_kind).value_counts()
    print("sample verdicts:", ", ".join(f"{n} {kind}" for kind, n in outcomes.items()))
    with_md = usable(table)
    print(
        f"with MD and not melted: {len(with_md)}; production ps: {sorted(set(with_md['md_production_ps']))}"
    )
    stable_md = with_md[with_md["dynamically_stable"].astype(bool)]
    resolved = stable_md[stable_md["transport_converged"].astype(str) == "True"]
    print(
        f"dynamically stable with MD: {len(stable_md)}, of which Na diffusion resolved in the run: "
        f"{len(resolved)} (the others' D is their vibrational plateau read through the zero-intercept fit)"
    )
    # the study's way (every stable structure with MD) and the resolved ones alone: a plateau's D grows with the
    # vibrational MSD, so on non-diffusing structures the fit alone correlates D with the phonon MSD
    for label, rows in (("all stable with MD", stable_md), ("diffusion resolved", resolved)):
        if len(rows) < 3:
            continue
        corr = correlations(rows, descriptors=REPORTED)
        print(label)
        print(
            corr[
                [
                    "descriptor",
                    "target",
                    "n",
                    "pearson_r",
                    "r_low",
                    "r_high",
                    "spearman_rho",
                    "rho_low",
                    "rho_high",
                ]
            ].to_string(index=False, float_format=lambda v: f"{v:.2f}")
        )
    ranked = with_md.sort_values("D_avg_A2_per_ps", ascending=False).reset_index(drop=True)
    for row in ranked[ranked["role"] != "sample"].itertuples():
        print(
            f"  {row.role}: {row.candidate_id} D_avg {row.D_avg_A2_per_ps:.3g} A^2/ps, rank {row.Index + 1} "
            f"of {len(ranked)}; gate: {'stable' if row.dynamically_stable else 'unstable'}; "
            f"{'diffusion resolved' if str(row.transport_converged) == 'True' else 'no diffusion resolved'}"
        )
    seconds = pd.to_numeric(table["worker_s"], errors="coerce")
    print(
        f"worker time per structure: median {seconds.median() / 60:.1f} min (screen only: "
        f"{seconds[table['D_avg_A2_per_ps'].isna()].median() / 60:.1f}, with MD: "
        f"{seconds[table['D_avg_A2_per_ps'].notna()].median() / 60:.1f})"
    )
    na3ps4 = with_md[with_md["candidate_id"] == "control-Na3PS4"]
    if len(na3ps4):
        print(
            f"cubic Na3PS4 at 800 K: D_avg {na3ps4['D_avg_A2_per_ps'].iloc[0]:.3g} A^2/ps "
            f"(AIMD {NA3PS4_AIMD_800K_A2_PER_PS})"
        )
    try:
        model = train_diffusion_models(stable_md)
        for score in model.scores.values():
            print(
                f"D model {score.name}: out-of-fold R2 by chemical system {score.r2:.2f}, MAE log10 D {score.mae_log10:.2f}"
            )
    except NotEnoughData as exc:
        print(f"D model: {exc}")


def stop_on_signals() -> None:
    """`kill -INT` and `kill -TERM` stop the sitting through main's ``finally`` (workers killed, record
    written). Needed because a shell without job control starts `nohup ... &` with SIGINT ignored, and Python
    keeps an ignored SIGINT ignored: the driver of sitting 2 went on polling through two `kill -INT`."""

    def stop(signal_number: int, _frame) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signal_number).name}")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="the campaign's store and runs")
    parser.add_argument("--pool", type=Path, default=DEFAULT_POOL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--target-stable", type=int, default=24)
    parser.add_argument("--wave", type=int, default=12)
    parser.add_argument("--max-supercell-atoms", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads-per-worker",
        type=int,
        default=1,
        help="torch threads of each worker (two in all on 2 cores: --workers 1 --threads-per-worker 2 "
        "for a sitting that must finish a 216-atom MD)",
    )
    parser.add_argument("--hours", type=float, default=2.5, help="stop the workers after this")
    parser.add_argument("--poll-s", type=float, default=60.0)
    parser.add_argument(
        "--md-minutes",
        type=float,
        default=110.0,
        help="wall minutes of one campaign MD run on one thread (~120 atoms, 7net-0): later in the "
        "sitting, screening goes first",
    )
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument(
        "--summary-only", action="store_true", help="print the figures of the record and stop"
    )
    args = parser.parse_args()
    if args.summary_only:
        summarize_record(args.record)
        return
    if not args.pool.exists():
        raise SystemExit(f"the candidate pool {args.pool} is missing (../shared/data/candidates)")

    if args.workdir is None:
        parser.error("--workdir is needed unless --summary-only")
    stop_on_signals()
    store = args.workdir / "store"
    store.mkdir(parents=True, exist_ok=True)
    log_dir = args.workdir / "logs"
    log_dir.mkdir(exist_ok=True)
    settings = resolve_settings(workdir=store)
    roles = control_roles()
    # from sitting 3 on, the pool's DFT-stable structures first: the random order's stable fraction at 800 K was
    # 1 in 31 (~700 screenings for 24); the study, too, kept DFT-stable structures (README, campaign)
    dft_stable = dft_stable_ids()
    order = pool_order(args.pool, args.seed, args.max_supercell_atoms, first=dft_stable)
    rows = all_rows(store, args.record, roles)
    submit_controls(args.workdir, store, set(rows["candidate_id"]))
    submit_relaxed(store, roles, set(rows["candidate_id"]))
    rejudge(
        settings, args.workdir, store, order, stale_verdicts(read_record(args.record), args.workdir)
    )
    next_wave(args, args.workdir, store, order, all_rows(store, args.record, roles), dft_stable)

    with open_session(settings) as session:
        # back in the queue before any worker starts: a killed MD run must face hold_long_md first
        recover_lost_runs(session)
    resumed = resume_held_md(settings)
    if resumed:
        print(f"resuming {resumed} MD runs held by the last sitting")
    started = time.monotonic()
    workers: dict[int, subprocess.Popen] = {}
    number = len(list(log_dir.glob("worker_*.log")))  # a new sitting's workers get new logs
    # `na-flows results` costs ~25 s of CPU (a new process, every workflow read): read it only when a job
    # has finished since the last read (at every poll it took ~40 % of one of the two cores from the workers)
    finished_jobs_read = None
    table = read_record(args.record)
    try:
        while time.monotonic() - started < 3600 * args.hours:
            left_min = (3600 * args.hours - (time.monotonic() - started)) / 60
            prioritise(settings, md_fits=left_min > args.md_minutes, preferred=dft_stable)
            # a worker of two threads runs an MD 1.67x as fast (README: 2.26 against 1.35 steps/s)
            speedup = 1.67 if args.threads_per_worker >= 2 else 1.0
            held = hold_long_md(settings, left_min, args.md_minutes / speedup)
            if held:
                print(
                    f"holding the MD of {', '.join(held)} for a later sitting (it would not finish in this one)"
                )
            counts = job_counts(settings)
            for key, process in list(workers.items()):
                if process.poll() is not None:
                    del workers[key]
            # every live worker of the store counts, those of an earlier driver process too
            if counts.get("READY", 0) and len(live_workers(store)) < args.workers:
                workers[number] = start_worker(store, log_dir, number, args.threads_per_worker)
                number += 1
            time.sleep(args.poll_s)
            finished_jobs = sum(counts.get(state, 0) for state in FINISHED)
            submitted = False
            if finished_jobs != finished_jobs_read:
                finished_jobs_read = finished_jobs
                results = store_results(store)
                table = update_record(store, settings, roles, args.record, results)
                save_relaxed(settings, roles, set(table.get("candidate_id", [])))
                rows = all_rows(store, args.record, roles, results)
                submitted = next_wave(args, args.workdir, store, order, rows, dft_stable)
            unfinished = sum(counts.get(state, 0) for state in UNFINISHED)
            print(
                f"{time.strftime('%H:%M:%S')}: jobs {dict(counts)}; record {len(table)} rows",
                flush=True,
            )
            if not unfinished and not workers and not submitted:
                print("campaign complete")
                break
    except KeyboardInterrupt as stopped:
        print(
            f"{time.strftime('%H:%M:%S')}: stopped by {stopped}; killing the workers, writing the record"
        )
    finally:
        for process in workers.values():
            process.kill()
            process.wait()
        update_record(store, settings, roles, args.record)


if __name__ == "__main__":
    main()
