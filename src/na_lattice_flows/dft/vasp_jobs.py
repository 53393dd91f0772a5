"""VASP steps for HPC (paper §2.1, §2.6), as atomate2 makers run through custodian, with this study's settings.

- ``strict_double_relax_maker``: atomate2's DoubleRelaxMaker with tighter settings than the Materials Project's
  (MPRelaxSet: ENCUT 520 eV, EDIFF 5e-5 eV per atom, no force criterion): ENCUT 680 eV, EDIFF 1e-6 eV,
  EDIFFG -0.005 eV/A (forces), PREC Accurate, LREAL False, ADDGRID, Gaussian smearing 0.05 eV (the screen keeps
  insulators). These are ``STRICT_RELAX_INCAR``. Functional PBE by default (``functional="PBEsol"`` for phononDB's).
- ``displaced_static_maker``: single points on displaced supercells for the MLP benchmark's DFT forces and DFT
  phonons, and on MD frames as training labels: EDIFF 1e-7 eV, LREAL False, ADDGRID, ENCUT 700 eV (atomate2's and
  phononDB's phonon settings): ``TIGHT_STATIC_INCAR``; PBE, PBEsol or r2SCAN.
- ``VaspAIMDMaker``: NVT Nose-Hoover AIMD (MDALGO 2; SMASS 0 lets VASP pick the Nose mass for a 40-step
  period), 800 K, Gamma point only, 520 eV, 1.5 fs, 30 ps by default, split into chained segments (atomate2's
  MultiMDMaker: each segment starts from the previous CONTCAR with its velocities, so a lost segment is rerun
  alone); the vasprun.xml of every segment feeds the transport analysis unchanged.

Custodian handlers per step: relaxations and statics keep atomate2's defaults (which include the ionic
PotimErrorHandler and UnconvergedErrorHandler); MD drops those two (ionic convergence means nothing in MD), as
atomate2's MDMaker does, and adds custodian's WalltimeHandler when the queue's wall time is given: it writes a
STOPCAR shortly before the wall time so VASP ends the segment cleanly with a CONTCAR the next segment starts from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from pathlib import Path

from jobflow import Flow, Maker, job
from pymatgen.core import Structure
from pymatgen.io.vasp import Kpoints

from na_lattice_flows.checks import check_range
from na_lattice_flows.dft.schemas import AIMDDocument
from na_lattice_flows.errors import InputError, MissingInputError
from na_lattice_flows.md.trajectory import read_trajectory_segments
from na_lattice_flows.md.transport import analyze_trajectory
from na_lattice_flows.settings import SETTINGS

STRICT_RELAX_INCAR = {
    "ENCUT": 680,
    "EDIFF": 1e-6,
    "EDIFFG": -0.005,
    "PREC": "Accurate",
    "LREAL": False,
    "ADDGRID": True,
    "ISMEAR": 0,
    "SIGMA": 0.05,
}
TIGHT_STATIC_INCAR = {
    "ENCUT": 700,
    "EDIFF": 1e-7,
    "PREC": "Accurate",
    "LREAL": False,
    "ADDGRID": True,
    "ISMEAR": 0,
    "SIGMA": 0.05,
    "LCHARG": False,
    "LWAVE": False,
}
AIMD_INCAR = {"ENCUT": 520, "ISMEAR": 0, "SIGMA": 0.05, "ISPIN": 1, "LREAL": "Auto", "LWAVE": False}
# explicit every way: atomate2's base input set is PBEsol (GGA = PS), the MLPs' training data (Materials Project) PBE;
# r2SCAN (training labels, as the Materials Project's newer data) is a meta-GGA: GGA removed (None drops the key)
FUNCTIONAL_INCAR = {
    "PBE": {"GGA": "PE"},
    "PBEsol": {"GGA": "PS"},
    "r2SCAN": {"METAGGA": "R2scan", "LASPH": True, "GGA": None},
}


def functional_incar(functional: str) -> dict:
    """The INCAR keys that select ``functional``; an unknown name is refused."""
    if functional not in FUNCTIONAL_INCAR:
        raise InputError(
            f"unknown functional {functional!r}; choose from {', '.join(FUNCTIONAL_INCAR)}"
        )
    return FUNCTIONAL_INCAR[functional]


def md_handlers() -> tuple:
    """atomate2's MD handlers: no ionic-convergence handlers (PotimErrorHandler, UnconvergedErrorHandler)."""
    from atomate2.vasp.jobs.md import MDMaker

    return MDMaker().run_vasp_kwargs["handlers"]


def strict_double_relax_maker(functional: str = "PBE", incar_updates: dict | None = None):
    """Two consecutive full relaxations (cell + ions), the second from the first's output (custodian's
    double-relaxation guards against Pulay stress after a large volume change)."""
    from atomate2.vasp.flows.core import DoubleRelaxMaker
    from atomate2.vasp.jobs.core import RelaxMaker
    from atomate2.vasp.sets.core import RelaxSetGenerator

    incar = {**STRICT_RELAX_INCAR, **functional_incar(functional), **(incar_updates or {})}
    return DoubleRelaxMaker.from_relax_maker(
        RelaxMaker(input_set_generator=RelaxSetGenerator(user_incar_settings=incar))
    )


def displaced_static_maker(
    functional: str = "PBE", incar_updates: dict | None = None, reciprocal_density: int = 100
):
    """A tight single point (forces for the MLP benchmark) on one displaced supercell."""
    from atomate2.vasp.jobs.core import StaticMaker
    from atomate2.vasp.sets.core import StaticSetGenerator

    incar = {**TIGHT_STATIC_INCAR, **functional_incar(functional), **(incar_updates or {})}
    generator = StaticSetGenerator(
        user_incar_settings=incar, user_kpoints_settings={"reciprocal_density": reciprocal_density}
    )
    return StaticMaker(name="displaced static", input_set_generator=generator)


@job(data=["curves"], output_schema=AIMDDocument)
def aimd_transport(candidate_id: str, segment_dirs: list[str], element: str = "Na") -> AIMDDocument:
    """The AIMD's transport analysis: the segments' vasprun.xml files in order, one trajectory, the same analysis
    as the MLP MD's."""
    paths = [
        _vasprun(Path(str(d).split(":", 1)[-1])) for d in segment_dirs
    ]  # atomate2 dir names may carry host:
    trajectory = read_trajectory_segments(paths)
    analysis, curves = analyze_trajectory(trajectory, element)
    return AIMDDocument(
        candidate_id=candidate_id,
        engine="vasp",
        trajectory_paths=[str(p) for p in paths],
        n_atoms=len(trajectory.species),
        analysis=analysis,
        curves={key: value.tolist() for key, value in curves.items()},
    )


def _vasprun(folder: Path) -> Path:
    for name in ("vasprun.xml", "vasprun.xml.gz"):
        if (folder / name).is_file():
            return folder / name
    raise MissingInputError(f"no vasprun.xml(.gz) in the AIMD segment folder {folder}")


@dataclass
class VaspAIMDMaker(Maker):
    """NVT Nose-Hoover AIMD in ``ceil(n_steps / segment_steps)`` chained VASP segments, then the transport
    analysis. ``wall_time_s``: the queue's wall time per segment, for custodian's WalltimeHandler."""

    name: str = "vasp aimd"
    temperature_K: float = SETTINGS.temperature_K
    timestep_fs: float = 1.5
    n_steps: int = 20_000  # 30 ps
    segment_steps: int = 4000  # 6 ps per segment
    functional: str = "PBE"
    gamma_only: bool = True
    incar_updates: dict = field(default_factory=dict)
    wall_time_s: int | None = None
    element: str = "Na"

    def __post_init__(self) -> None:
        check_range("n_steps", self.n_steps, at_least=1)
        check_range("segment_steps", self.segment_steps, at_least=1)
        check_range("temperature_K", self.temperature_K, above=0, unit="K")
        check_range("timestep_fs", self.timestep_fs, above=0, unit="fs")
        functional_incar(self.functional)

    def segment_maker(self, steps: int):
        """atomate2's VASP MD Maker of one segment of ``steps`` steps (NVT Nose-Hoover, Gamma
        point)."""
        from atomate2.vasp.jobs.md import MDMaker
        from atomate2.vasp.sets.core import MDSetGenerator

        generator = MDSetGenerator(
            ensemble="nvt",
            start_temp=self.temperature_K,
            end_temp=self.temperature_K,
            nsteps=steps,
            time_step=self.timestep_fs,
            user_incar_settings={
                **AIMD_INCAR,
                **functional_incar(self.functional),
                **self.incar_updates,
            },
            user_kpoints_settings=Kpoints.gamma_automatic((1, 1, 1)) if self.gamma_only else None,
        )
        run_vasp_kwargs = {"handlers": md_handlers()}
        if self.wall_time_s:
            run_vasp_kwargs["wall_time"] = self.wall_time_s
        return MDMaker(input_set_generator=generator, run_vasp_kwargs=run_vasp_kwargs)

    def make(self, structure: Structure, candidate_id: str = "structure") -> Flow:
        """The AIMD of ``structure`` in chained segments (atomate2's MultiMDMaker), then its
        transport analysis."""
        from atomate2.vasp.flows.md import MultiMDMaker

        n_segments = ceil(self.n_steps / self.segment_steps)
        steps = [self.segment_steps] * (n_segments - 1) + [
            self.n_steps - self.segment_steps * (n_segments - 1)
        ]
        chain = MultiMDMaker(
            name=f"{self.name} {candidate_id}", md_makers=[self.segment_maker(n) for n in steps]
        ).make(structure)
        segments = [
            j
            for j in chain.jobs
            if j.name.startswith("molecular dynamics") and j.name != "molecular dynamics output"
        ]
        analysis = aimd_transport(candidate_id, [j.output.dir_name for j in segments], self.element)
        analysis.name = f"aimd transport {candidate_id}"
        return Flow([chain, analysis], output=analysis.output, name=f"{self.name} {candidate_id}")
