"""DFT phonons of the validation hits beside the MLP's (the screening study's Fig. 2 red points and Fig. S8):
second-order force constants fitted the same way to DFT and to MLP forces on the same random-displacement
supercells, the Na phonon MSD at T from both, and both dispersions along one high-symmetry path.

The MLP's forces on the undisplaced supercell are subtracted before its fit (as in ``benchmark.forces``), so the
comparison measures curvature at the DFT structure, not the offset between the two equilibria.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from na_lattice_flows.phonons.descriptors import phonon_descriptors
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import DisplacementReference
from na_lattice_flows.phonons.stability import StabilityVerdict, stability_screen


class PhononComparison(BaseModel):
    """DFT against MLP phonons of one structure on the same supercells: Na MSD at T and dispersion
    difference."""

    structure: str
    formula: str
    model: str
    temperature_K: float
    species: str = "Na"
    msd_dft_A2: float = Field(
        description="Mean over the species' sites and directions of <u^2> from DFT force constants"
    )
    msd_mlp_A2: float
    msd_ratio_mlp_over_dft: float
    dft_stability: StabilityVerdict
    mlp_stability: StabilityVerdict
    ifc2_rmse_eV_per_A2: float
    bands: dict = Field(
        description="distances, labels (tick positions and names), DFT and MLP frequencies (THz) per path point (data store)"
    )


def _path_frequencies(ph, bands, connections, labels) -> np.ndarray:
    ph.run_band_structure(bands, path_connections=connections, labels=labels)
    return np.concatenate(ph.get_band_structure_dict()["frequencies"])


def compare_phonons(
    reference: DisplacementReference,
    mlp_forces: np.ndarray,
    model: str,
    temperature_K: float,
    species: str = "Na",
    n_points: int = 41,
) -> PhononComparison:
    """``mlp_forces``: the model's forces on the reference's displaced supercells, its residual forces on the
    undisplaced supercell already subtracted."""
    from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

    dft = fit_force_constants(reference)
    mlp = fit_force_constants(reference, np.asarray(mlp_forces, dtype=float))
    dft_descriptors, _ = phonon_descriptors(dft, temperature_k=temperature_K, species=species)
    mlp_descriptors, _ = phonon_descriptors(mlp, temperature_k=temperature_K, species=species)
    bands, labels, connections = get_band_qpoints_by_seekpath(
        dft.primitive, n_points, is_const_interval=True
    )
    dft_frequencies = _path_frequencies(dft, bands, connections, labels)
    mlp_frequencies = _path_frequencies(mlp, bands, connections, labels)
    distances = np.concatenate(dft.get_band_structure_dict()["distances"])
    return PhononComparison(
        structure=reference.name,
        formula=reference.unitcell.composition.reduced_formula,
        model=model,
        temperature_K=temperature_K,
        species=species,
        msd_dft_A2=dft_descriptors.msd_na_avg_A2,
        msd_mlp_A2=mlp_descriptors.msd_na_avg_A2,
        msd_ratio_mlp_over_dft=mlp_descriptors.msd_na_avg_A2 / dft_descriptors.msd_na_avg_A2,
        dft_stability=stability_screen(dft)[0],
        mlp_stability=stability_screen(mlp)[0],
        ifc2_rmse_eV_per_A2=float(
            np.sqrt(np.mean((mlp.force_constants - dft.force_constants) ** 2))
        ),
        bands={
            "distances": distances.tolist(),
            "labels": [str(label) for label in labels],
            "dft_frequencies_thz": dft_frequencies.tolist(),
            "mlp_frequencies_thz": mlp_frequencies.tolist(),
        },
    )
