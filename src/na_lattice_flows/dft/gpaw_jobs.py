"""GPAW steps for users without VASP: relaxation, static single point and short AIMD, as jobflow Makers.

The relaxation moves cell and ions together (ASE's FrechetCellFilter + BFGS, GPAW's plane-wave stress), like
VASP's ISIF = 3. The AIMD runs our restartable Langevin engine (``md.langevin.run_langevin_md``) with GPAW forces, so it
shares the MLP MD's checkpoints, trajectory format and analysis, and its trajectory keeps the DFT forces and
energies of every frame (for ``benchmark.frames`` and training sets); its defaults follow the VASP AIMD's (800 K,
1.5 fs, Gamma point) with a looser SCF (``AIMD_GPAW_SETTINGS``), as AIMD codes do to afford thousands of steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Maker, job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.checks import check_range
from na_lattice_flows.dft.gpaw import GPAWSettings, gpaw_calculator
from na_lattice_flows.dft.schemas import AIMDDocument, GPAWTaskDocument
from na_lattice_flows.md.langevin import run_langevin_md
from na_lattice_flows.md.settings import md_settings
from na_lattice_flows.md.trajectory import read_trajectory
from na_lattice_flows.md.transport import analyze_trajectory
from na_lattice_flows.routing import CPU, worker
from na_lattice_flows.settings import trajectory_folder
from na_lattice_flows.structure.supercells import DEFAULT_MIN_ATOMS, paper_supercell

AIMD_GPAW_SETTINGS = GPAWSettings(
    ecut_eV=400.0,
    kpts=(1, 1, 1),
    energy_convergence_eV=1e-5,
    density_convergence=1e-4,
    force_convergence_eV_per_A=None,
)


def _document(
    atoms, settings: GPAWSettings, converged: bool = True, n_steps: int = 0
) -> GPAWTaskDocument:
    forces = atoms.get_forces()
    energy = float(atoms.get_potential_energy())
    return GPAWTaskDocument(
        structure=AseAtomsAdaptor.get_structure(atoms),
        energy_eV=energy,
        energy_per_atom_eV=energy / len(atoms),
        forces_eV_per_A=forces.tolist(),
        stress_eV_per_A3=atoms.get_stress().tolist(),
        max_force_eV_per_A=float((forces**2).sum(axis=1).max() ** 0.5),
        converged=converged,
        n_steps=n_steps,
        settings=settings,
    )


@job(output_schema=GPAWTaskDocument)
@worker(CPU)
def gpaw_static(structure: Structure, settings: GPAWSettings) -> GPAWTaskDocument:
    """A GPAW single point: energy, forces and stress."""
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = gpaw_calculator(settings)
    return _document(atoms, settings)


@job(output_schema=GPAWTaskDocument)
@worker(CPU)
def gpaw_relax(
    structure: Structure,
    settings: GPAWSettings,
    fmax_eV_per_A: float,
    max_steps: int,
    relax_cell: bool,
) -> GPAWTaskDocument:
    """A GPAW relaxation of the ions (and the cell, with ``relax_cell``) by BFGS."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = gpaw_calculator(settings)
    optimizer = BFGS(FrechetCellFilter(atoms) if relax_cell else atoms, logfile=None)
    converged = bool(optimizer.run(fmax=fmax_eV_per_A, steps=max_steps))
    return _document(atoms, settings, converged, optimizer.nsteps)


@dataclass
class GPAWStaticMaker(Maker):
    """A GPAW single point as a job (CPU workers)."""

    name: str = "gpaw static"
    settings: GPAWSettings = field(default_factory=GPAWSettings)

    def make(self, structure: Structure):
        """The single-point job of ``structure``."""
        static = gpaw_static(structure, self.settings)
        static.name = self.name
        return static


@dataclass
class GPAWRelaxMaker(Maker):
    """Cell and ions (``relax_cell=False``: ions only) to ``fmax_eV_per_A`` on forces and stress."""

    name: str = "gpaw relax"
    settings: GPAWSettings = field(default_factory=GPAWSettings)
    fmax_eV_per_A: float = 0.01
    max_steps: int = 200
    relax_cell: bool = True

    def __post_init__(self) -> None:
        check_range("fmax_eV_per_A", self.fmax_eV_per_A, above=0, unit="eV/A")
        check_range("max_steps", self.max_steps, at_least=1)

    def make(self, structure: Structure):
        """The relaxation job of ``structure``."""
        relax = gpaw_relax(
            structure, self.settings, self.fmax_eV_per_A, self.max_steps, self.relax_cell
        )
        relax.name = self.name
        return relax


@job(data=["curves"], output_schema=AIMDDocument)
@worker(CPU)
def gpaw_aimd(
    structure: Structure,
    candidate_id: str,
    md_overrides: dict,
    preset: str,
    settings: GPAWSettings,
    trajectory_dir: str,
    min_supercell_atoms: int,
    element: str,
) -> AIMDDocument:
    """AIMD of the paper supercell with GPAW forces and its transport analysis (same output as ``aimd_transport``)."""
    from na_lattice_flows.md.jobs import trajectory_file

    md = md_settings(preset, **md_overrides)
    supercell = paper_supercell(structure, min_supercell_atoms)
    atoms = AseAtomsAdaptor.get_atoms(structure * supercell.supercell_matrix)
    path = trajectory_file(trajectory_dir, candidate_id, md, f"gpaw-{settings.xc}")
    run_langevin_md(
        atoms,
        gpaw_calculator(settings),
        md,
        path,
        attrs={"model": f"gpaw {settings.xc}", "candidate_id": candidate_id},
        record_labels=True,
    )
    analysis, curves = analyze_trajectory(read_trajectory(path), element, use_kinisi=False)
    return AIMDDocument(
        candidate_id=candidate_id,
        engine="gpaw",
        trajectory_paths=[str(path.resolve())],
        n_atoms=len(atoms),
        analysis=analysis,
        curves={key: value.tolist() for key, value in curves.items()},
    )


@dataclass
class GPAWAIMDMaker(Maker):
    """Short AIMD with GPAW, restartable like the MLP MD (``preset`` and ``md_overrides`` as in ``MLPMDMaker``;
    default: the paper's 800 K, 1.5 fs Langevin run, which is hours per step on a laptop: shorten it)."""

    name: str = "gpaw aimd"
    preset: str = "paper"
    md_overrides: dict = field(default_factory=dict)
    settings: GPAWSettings = field(default_factory=lambda: AIMD_GPAW_SETTINGS.model_copy())
    trajectory_dir: str | None = (
        None  # default: settings.trajectory_folder(), resolved at submission
    )
    min_supercell_atoms: int = DEFAULT_MIN_ATOMS
    element: str = "Na"

    def __post_init__(self) -> None:
        md_settings(self.preset, **self.md_overrides)  # fails at submission on a bad field
        self.trajectory_dir = str(trajectory_folder(self.trajectory_dir))

    def make(self, structure: Structure, candidate_id: str = "structure"):
        """The AIMD job of ``structure``."""
        aimd = gpaw_aimd(
            structure,
            candidate_id,
            self.md_overrides,
            self.preset,
            self.settings,
            self.trajectory_dir,
            self.min_supercell_atoms,
            self.element,
        )
        aimd.name = f"{self.name} {candidate_id}"
        return aimd
