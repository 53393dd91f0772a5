"""GPAW (open plane-wave PAW DFT through ASE) as the local DFT engine, for users without VASP.

Defaults: PBE (the PAW setups that ship in ``gpaw-data`` are LDA/PBE/revPBE/RPBE; PBE is also the functional the
MLPs are trained on, while phononDB used PBEsol, so compare across the two with care), a 500 eV plane-wave cutoff and a
k-point density of 3.0 points per reciprocal Angstrom (ASE's ``{"density": ...}``, which includes the 2 pi;
an 80-atom supercell of 10-15 A gets 2-3 points per axis), Fermi-Dirac smearing of 0.05 eV (the screen keeps
insulators, where it changes nothing), and SCF convergence tight enough for finite-difference-quality forces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field
from tqdm.auto import tqdm


class GPAWSettings(BaseModel):
    """GPAW's plane-wave settings (functional, cutoff, k-point density, SCF) of every GPAW step."""

    xc: str = "PBE"
    ecut_eV: float = Field(500.0, description="Plane-wave cutoff")
    kpoint_density: float = Field(
        3.0, description="k-points per reciprocal Angstrom (ASE kpts density)"
    )
    kpts: tuple[int, int, int] | None = Field(
        None, description="Explicit Monkhorst-Pack grid; overrides the density"
    )
    smearing_eV: float = 0.05
    energy_convergence_eV: float = Field(1e-6, description="SCF energy change per valence electron")
    density_convergence: float = 1e-5
    force_convergence_eV_per_A: float | None = Field(
        1e-4, description="None: no force criterion (AIMD)"
    )
    txt: str | None = Field(None, description="GPAW log file (None: no log)")


def gpaw_calculator(settings: GPAWSettings | None = None):
    """A GPAW calculator in plane-wave mode with ``settings``."""
    from gpaw import GPAW, PW, FermiDirac

    settings = settings or GPAWSettings()
    kpts = settings.kpts or {"density": settings.kpoint_density, "gamma": True}
    return GPAW(
        mode=PW(settings.ecut_eV),
        xc=settings.xc,
        kpts=kpts,
        occupations=FermiDirac(settings.smearing_eV),
        convergence={
            "energy": settings.energy_convergence_eV,
            "density": settings.density_convergence,
            **(
                {"forces": settings.force_convergence_eV_per_A}
                if settings.force_convergence_eV_per_A
                else {}
            ),
        },
        symmetry="off",  # displaced supercells have none worth using, and forces must not be symmetrised
        txt=settings.txt,
    )


def gpaw_forces(
    supercells: Sequence, settings: GPAWSettings | None = None, progress: bool = True
) -> np.ndarray:
    """DFT forces (n, N, 3) in eV/A on each supercell, a fresh SCF each."""
    forces = []
    for atoms in tqdm(supercells, desc="GPAW forces", unit="cell", disable=not progress):
        atoms = atoms.copy()
        atoms.calc = gpaw_calculator(settings)
        forces.append(atoms.get_forces())
    return np.asarray(forces, dtype=float)
