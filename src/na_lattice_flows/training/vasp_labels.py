"""VASP single points as training labels (HPC): one atomate2 static per selected frame, run through custodian on
CPU workers, collected back into extended XYZ with each frame's provenance. The frames exist only once the
selection has run, so the statics are made then, by a job that replaces itself with them (and routes them: see
``routing``). A static that fails leaves its frame out and is counted; the others are kept."""

from __future__ import annotations

from jobflow import Flow, JobConfig, OnMissing, Response, job
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.dft.vasp_jobs import displaced_static_maker
from na_lattice_flows.routing import route
from na_lattice_flows.training.dataset import from_extxyz, to_extxyz, with_vasp_labels

VASP_LABEL_JOB_NAME = "training label vasp"


@job(config=JobConfig(pass_manager_config=False))
def vasp_label_frames(
    selection: dict, functional: str, incar_updates: dict, reciprocal_density: int
) -> Response:
    """One tight VASP static (``dft.vasp_jobs.displaced_static_maker``) per selected frame, then their collection."""
    frames = from_extxyz(selection["extxyz"])
    maker = displaced_static_maker(functional, incar_updates, reciprocal_density)
    statics = []
    for index, atoms in enumerate(frames):
        static = maker.make(AseAtomsAdaptor.get_structure(atoms))
        static.name = f"{VASP_LABEL_JOB_NAME} {index + 1}/{len(frames)}"
        statics.append(static)
    results = [
        {
            "energy": s.output.output.energy,
            "forces": s.output.output.forces,
            "stress": s.output.output.stress,
        }
        for s in statics
    ]
    collect = collect_vasp_labels(selection["extxyz"], results, f"vasp {functional}")
    collect.name = f"{VASP_LABEL_JOB_NAME} collect"
    return Response(replace=route(Flow([*statics, collect], output=collect.output)))


@job(data=["extxyz"], config=JobConfig(on_missing_references=OnMissing.NONE))
def collect_vasp_labels(extxyz: str, results: list[dict | None], labeller: str) -> dict:
    """The frames with their statics' energy, forces and stress; a frame whose static failed is left out."""
    frames = from_extxyz(extxyz)
    labelled = [
        with_vasp_labels(atoms, r["energy"], r["forces"], r.get("stress"), labeller)
        for atoms, r in zip(frames, results, strict=True)
        if r is not None and r.get("forces") is not None
    ]
    return {
        "extxyz": to_extxyz(labelled),
        "n_frames": len(labelled),
        "n_failed": len(frames) - len(labelled),
    }
