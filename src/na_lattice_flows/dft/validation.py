"""AIMD validation of the MLP screen (paper §2.6): the top-k structures by MLP diffusion coefficient get AIMD
(VASP on HPC, GPAW locally), analysed exactly like the MLP MD, and a comparison document stores both MSD(t)
curves and the ratio of the diffusion coefficients."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jobflow import Flow, Maker, job
from pymatgen.core import Structure

from na_lattice_flows.dft.gpaw_jobs import GPAWAIMDMaker
from na_lattice_flows.dft.schemas import AIMDDocument, ValidationDocument, ValidationHit
from na_lattice_flows.dft.vasp_jobs import VaspAIMDMaker
from na_lattice_flows.errors import InputError
from na_lattice_flows.md.diffusion import element_diffusion
from na_lattice_flows.md.trajectory import read_trajectory, read_trajectory_segments

AIMD_ENGINES = ("gpaw", "vasp")


def top_hits(summaries: dict[str, dict], k: int) -> list[ValidationHit]:
    """The ``k`` structures with the largest MLP D among screening summaries (``execution.queries.summary_documents``) whose
    MD ran and did not melt."""
    ranked = []
    for candidate_id, summary in summaries.items():
        transport = summary.get("transport") or {}
        if (
            transport.get("D_avg_A2_per_ps") is None
            or transport.get("melted") is True
            or not transport.get("reference_trajectory_path")
        ):
            continue
        structure = summary["relaxed_structure"]
        ranked.append(
            ValidationHit(
                candidate_id=candidate_id,
                structure=structure
                if isinstance(structure, Structure)
                else Structure.from_dict(structure),
                D_mlp_A2_per_ps=transport["D_avg_A2_per_ps"],
                mlp_trajectory_path=transport["reference_trajectory_path"],
            )
        )
    return sorted(ranked, key=lambda hit: hit.D_mlp_A2_per_ps, reverse=True)[:k]


@job(data=["curves"], output_schema=ValidationDocument)
def compare_mlp_aimd(
    hit: ValidationHit, aimd: AIMDDocument | dict, element: str = "Na"
) -> ValidationDocument:
    """Both trajectories through the same MSD/D analysis (same fit window). ``aimd`` may also be the plain dict
    that 0.1's AIMD jobs returned (same fields)."""
    aimd = AIMDDocument.model_validate(aimd)
    mlp_trajectory = read_trajectory(hit.mlp_trajectory_path)
    aimd_trajectory = read_trajectory_segments(aimd.trajectory_paths)
    mlp, mlp_msd = element_diffusion(mlp_trajectory, element)
    reference, aimd_msd = element_diffusion(aimd_trajectory, element)
    return ValidationDocument(
        candidate_id=hit.candidate_id,
        element=element,
        aimd_engine=aimd.engine,
        temperature_K=aimd.analysis.temperature_K,
        D_mlp_A2_per_ps=mlp.D_avg_A2_per_ps,
        D_aimd_A2_per_ps=reference.D_avg_A2_per_ps,
        D_ratio_mlp_over_aimd=mlp.D_avg_A2_per_ps / reference.D_avg_A2_per_ps
        if reference.D_avg_A2_per_ps > 0
        else None,
        D_max_mlp_A2_per_ps=mlp.D_max_A2_per_ps,
        D_max_aimd_A2_per_ps=reference.D_max_A2_per_ps,
        aimd_melted=aimd.analysis.melted,
        mlp_trajectory_path=hit.mlp_trajectory_path,
        aimd_trajectory_paths=list(aimd.trajectory_paths),
        curves={
            "mlp_times_ps": mlp_trajectory.times_ps.tolist(),
            f"mlp_msd_xyz_{element}": np.asarray(mlp_msd).tolist(),
            "aimd_times_ps": aimd_trajectory.times_ps.tolist(),
            f"aimd_msd_xyz_{element}": np.asarray(aimd_msd).tolist(),
        },
    )


@dataclass
class AIMDValidationMaker(Maker):
    """AIMD of each hit with ``engine`` ('gpaw' or 'vasp', configured by ``gpaw_maker``/``vasp_maker``) and the
    MLP-vs-AIMD comparison; the flow's output is the list of comparison documents."""

    name: str = "aimd validation"
    engine: str = "gpaw"
    gpaw_maker: GPAWAIMDMaker = field(default_factory=GPAWAIMDMaker)
    vasp_maker: VaspAIMDMaker = field(default_factory=VaspAIMDMaker)
    element: str = "Na"

    def __post_init__(self) -> None:
        if self.engine not in AIMD_ENGINES:
            raise InputError(
                f"unknown AIMD engine {self.engine!r}; choose from {', '.join(AIMD_ENGINES)}"
            )

    def make(self, hits: list[ValidationHit]) -> Flow:
        """AIMD of each hit and its comparison with the hit's MLP MD; the hits come from
        ``top_hits``."""
        if not hits:
            raise InputError(
                "no structures to validate: the screen has no MD results that did not melt"
            )
        jobs, comparisons = [], []
        for hit in hits:
            maker = self.gpaw_maker if self.engine == "gpaw" else self.vasp_maker
            aimd = maker.make(hit.structure, hit.candidate_id)
            comparison = compare_mlp_aimd(hit, aimd.output, self.element)
            comparison.name = f"mlp vs aimd {hit.candidate_id}"
            jobs += [aimd, comparison]
            comparisons.append(comparison.output)
        return Flow(
            jobs, output=comparisons, name=f"{self.name} ({len(hits)} structures, {self.engine})"
        )
