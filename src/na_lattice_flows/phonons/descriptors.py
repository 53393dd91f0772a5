"""Lattice-dynamics descriptors from harmonic force constants (paper §2.5): Na phonon mean-square displacement
(MSD) and its decomposition over modes, participation ratio, Na-host coupling, acoustic cutoff and the moments
of the total and Na partial vibrational density of states.

Written here because phonopy gives the total thermal displacements but not their split over modes, nor the
participation/coupling per mode; everything is computed from phonopy's mesh (frequencies, eigenvectors,
q-point weights), and the totals are checked against phonopy's own ``run_thermal_displacements``.

Definitions, for mode (q, nu) with frequency omega and eigenvector e (normalised over the 3N components of the
primitive cell, site kappa of mass m_kappa, Cartesian direction alpha), q-point weights w_q summing to 1:
- MSD (eqn 5): <u_{kappa,alpha}^2> = sum_{q,nu} w_q hbar / (2 m_kappa omega) |e_{kappa alpha}|^2 coth(hbar omega / 2 k_B T),
  over modes above ``freq_min_thz`` (the three zero-frequency acoustic modes at Gamma carry no displacement).
- Participation ratio (eqn 8): PR = (sum_k |e_k|^2 / m_k)^2 / (N sum_k |e_k|^4 / m_k^2), 1/N for one moving site, 1
  when every site moves equally (mass-weighted).
- Na-host coupling factor (eqn 9, as implemented here): C = 4 w_Na (1 - w_Na) with w_Na = sum_{k in Na} |e_k|^2, the
  share of the mode's (mass-weighted) amplitude on Na sites: 0 when only Na or only the host moves, 1 when the
  mode is shared equally. The scalar summary is its mean over modes below ``low_freq_cutoff_thz``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy
from pydantic import BaseModel, Field
from scipy import constants

from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import SETTINGS

HBAR = constants.hbar
KB = constants.k
AMU = constants.atomic_mass
THZ_TO_RAD_PER_S = 2 * np.pi * 1e12
M2_TO_A2 = 1e20
DEFAULT_TEMPERATURE_K = SETTINGS.temperature_K
DEFAULT_LOW_FREQ_CUTOFF_THZ = 1.5
DEFAULT_FREQ_MIN_THZ = (
    1e-3  # below this a mode counts as a zero-frequency translation (phonopy's default too)
)


def mode_msd_prefactor(
    frequencies_thz: np.ndarray, temperature_k: float, freq_min_thz: float
) -> np.ndarray:
    """hbar / (2 omega) coth(hbar omega / 2 k_B T) in m^2 kg (divide by a mass for m^2); 0 for soft modes."""
    frequencies = np.asarray(frequencies_thz, dtype=float)
    active = frequencies > freq_min_thz
    omega = np.where(active, frequencies, 1.0) * THZ_TO_RAD_PER_S
    if temperature_k > 0:
        occupation = 1.0 / np.tanh(HBAR * omega / (2 * KB * temperature_k))
    else:
        occupation = np.ones_like(omega)  # zero-point motion only
    return np.where(active, HBAR / (2 * omega) * occupation, 0.0)


class ModeData(BaseModel):
    """Per-mode quantities on the q-mesh, shape (n_qpoints, n_bands)."""

    frequencies_thz: list[list[float]]
    weights: list[float] = Field(description="q-point weights, normalised to sum to 1")
    na_msd_A2: list[list[float]] = Field(
        description="Contribution of each mode to the Na MSD (mean over Na sites and x, y, z)"
    )
    participation_ratio: list[list[float]]
    na_host_coupling: list[list[float]]
    na_weight: list[list[float]] = Field(description="Share of each mode's amplitude on Na sites")


class PhononDescriptors(BaseModel):
    """The Na lattice-dynamics descriptors at T, with the verdict they were computed under."""

    temperature_K: float
    dynamically_stable: bool | None = None
    min_frequency_thz: float | None = None
    stability_rule: str | None = Field(
        None,
        description="What decided the verdict (phonons.stability): stable, soft mode, acoustic artifact near Gamma",
    )
    stability_reason: str | None = Field(
        None, description="The verdict in words, with the deciding mode"
    )
    # added in 0.4 (stability at the screening temperature, phonons.finite_temperature); None in older records: harmonic
    harmonically_stable: bool | None = Field(
        None,
        description="The harmonic verdict (dynamically_stable is the one at T where it was computed)",
    )
    stability_method: str | None = Field(
        None, description="What dynamically_stable was judged on: harmonic or finite-temperature"
    )
    min_effective_frequency_thz: float | None = Field(
        None, description="Lowest frequency of the effective phonons at T, where computed"
    )
    descriptors_from: str | None = Field(
        None, description="The force constants of the descriptors: harmonic, or effective at T"
    )
    # added in 0.7: the gate changed between releases (0.6 effective phonons, 0.7 residual forces)
    stability_code_version: str | None = Field(
        None, description="The na_lattice_flows release whose phonon step judged (None before 0.7)"
    )
    msd_na_avg_A2: float = Field(description="Mean over Na sites and directions of <u^2>")
    msd_na_max_A2: float = Field(description="Largest <u_alpha^2> of any Na site and direction")
    msd_per_site_A2: list[list[float]] = Field(
        description="(n_sites, 3) <u_x^2>, <u_y^2>, <u_z^2> of the primitive cell"
    )
    site_species: list[str]
    low_freq_msd_fraction: float = Field(
        description="Share of the Na MSD from modes below the low-frequency cutoff"
    )
    low_freq_cutoff_thz: float
    low_freq_na_host_coupling: float = Field(
        description="Mean Na-host coupling of modes below the cutoff"
    )
    acoustic_cutoff_thz: float = Field(
        description="Highest frequency of the three acoustic branches"
    )
    total_dos_center_thz: float
    total_dos_width_thz: float
    total_dos_skewness: float
    total_dos_kurtosis: float = Field(description="Excess kurtosis (0 for a normal distribution)")
    na_pdos_center_thz: float
    na_pdos_width_thz: float
    na_pdos_skewness: float
    na_pdos_kurtosis: float
    na_center_over_acoustic_cutoff: float


def _moments(values: np.ndarray, weights: np.ndarray) -> tuple[float, float, float, float]:
    """Center, width (standard deviation), skewness and excess kurtosis of a weighted distribution."""
    weights = weights / weights.sum()
    center = float(np.sum(weights * values))
    variance = float(np.sum(weights * (values - center) ** 2))
    width = np.sqrt(variance)
    skewness = float(np.sum(weights * (values - center) ** 3) / width**3)
    kurtosis = float(np.sum(weights * (values - center) ** 4) / variance**2 - 3.0)
    return center, float(width), skewness, kurtosis


@dataclass
class ModeQuantities:
    """The modes of one q-point, each band's value (n_bands,); ``msd_per_site_A2`` summed over bands (N, 3)."""

    na_msd_A2: np.ndarray
    participation_ratio: np.ndarray
    na_host_coupling: np.ndarray
    na_weight: np.ndarray
    msd_per_site_A2: np.ndarray


def mode_quantities(
    eigenvectors: np.ndarray, prefactor: np.ndarray, masses_kg: np.ndarray, is_species: np.ndarray
) -> ModeQuantities:
    """Na MSD, participation ratio and Na-host coupling of every mode at one q-point, from phonopy's (3N, 3N)
    eigenvectors (columns are modes) and ``mode_msd_prefactor`` of the q-point's frequencies."""
    n_sites = len(masses_kg)
    amplitude = np.abs(eigenvectors.reshape(n_sites, 3, -1)) ** 2  # |e_{k,alpha}|^2, (N, 3, nb)
    # <u_{k,alpha}^2> per band, A^2
    contribution = amplitude * (prefactor / masses_kg[:, None, None]) * M2_TO_A2
    site_amplitude = amplitude.sum(axis=1)  # |e_k|^2, (N, nb)
    mass_weighted = site_amplitude / masses_kg[:, None]
    na_weight = site_amplitude[is_species].sum(axis=0)
    return ModeQuantities(
        na_msd_A2=contribution[is_species].sum(axis=(0, 1)) / (3 * is_species.sum()),
        participation_ratio=mass_weighted.sum(axis=0) ** 2
        / (n_sites * (mass_weighted**2).sum(axis=0)),
        na_host_coupling=4 * na_weight * (1 - na_weight),
        na_weight=na_weight,
        msd_per_site_A2=contribution.sum(axis=2),
    )


def _species_mask(ph: Phonopy, species: str) -> np.ndarray:
    is_species = np.array([s == species for s in ph.primitive.symbols])
    if not is_species.any():
        raise InputError(
            f"no {species} site in the primitive cell ({', '.join(sorted(set(ph.primitive.symbols)))})"
        )
    return is_species


def compute_mode_data(
    ph: Phonopy,
    temperature_k: float = DEFAULT_TEMPERATURE_K,
    mesh: float | list[int] = 30.0,
    species: str = "Na",
    freq_min_thz: float = DEFAULT_FREQ_MIN_THZ,
) -> tuple[ModeData, np.ndarray]:
    """Per-mode data on a Gamma-centred mesh and the MSD per primitive site and direction (n_sites, 3), A^2.

    The eigenvectors are processed one q-point at a time, so memory stays at one (3N, 3N) matrix."""
    # the full mesh: per-direction displacements are not invariant under the point group, so no q-point reduction
    ph.run_mesh(mesh, with_eigenvectors=True, is_gamma_center=True, is_mesh_symmetry=False)
    sampled = ph.mesh
    frequencies = np.asarray(sampled.frequencies)
    weights = np.asarray(sampled.weights, dtype=float)
    weights /= weights.sum()
    masses = np.asarray(ph.primitive.masses) * AMU
    is_species = _species_mask(ph, species)
    n_sites = len(masses)
    prefactor = mode_msd_prefactor(frequencies, temperature_k, freq_min_thz)  # (nq, nb)

    msd_per_site = np.zeros((n_sites, 3))
    shape = frequencies.shape
    na_msd, participation, coupling, na_weight = (np.zeros(shape) for _ in range(4))
    for iq, eigenvectors in enumerate(sampled.eigenvectors):
        modes = mode_quantities(eigenvectors, prefactor[iq], masses, is_species)
        msd_per_site += weights[iq] * modes.msd_per_site_A2
        na_msd[iq] = weights[iq] * modes.na_msd_A2
        participation[iq], coupling[iq], na_weight[iq] = (
            modes.participation_ratio,
            modes.na_host_coupling,
            modes.na_weight,
        )
    data = ModeData(
        frequencies_thz=frequencies.tolist(),
        weights=weights.tolist(),
        na_msd_A2=na_msd.tolist(),
        participation_ratio=participation.tolist(),
        na_host_coupling=coupling.tolist(),
        na_weight=na_weight.tolist(),
    )
    return data, msd_per_site


def acoustic_cutoff(frequencies_thz: np.ndarray) -> float:
    """Highest frequency reached by the three lowest branches (bands sorted by frequency at each q)."""
    return float(np.sort(np.asarray(frequencies_thz), axis=-1)[..., :3].max())


def phonon_descriptors(
    ph: Phonopy,
    temperature_k: float = DEFAULT_TEMPERATURE_K,
    low_freq_cutoff_thz: float = DEFAULT_LOW_FREQ_CUTOFF_THZ,
    mesh: float | list[int] = 30.0,
    species: str = "Na",
    freq_min_thz: float = DEFAULT_FREQ_MIN_THZ,
) -> tuple[PhononDescriptors, ModeData]:
    """All scalar descriptors of one crystal (force constants already in ``ph``), and the per-mode data."""
    data, msd_per_site = compute_mode_data(ph, temperature_k, mesh, species, freq_min_thz)
    frequencies = np.asarray(data.frequencies_thz)
    q_weights = np.asarray(data.weights)[:, None] * np.ones_like(frequencies)
    active = frequencies > freq_min_thz
    is_species = np.array([s == species for s in ph.primitive.symbols])
    na_msd_modes = np.asarray(data.na_msd_A2)
    na_weight = np.asarray(data.na_weight)
    low = active & (frequencies < low_freq_cutoff_thz)

    total = _moments(frequencies[active], q_weights[active])
    na = _moments(frequencies[active], (q_weights * na_weight)[active])
    cutoff = acoustic_cutoff(frequencies)
    coupling = np.asarray(data.na_host_coupling)
    descriptors = PhononDescriptors(
        temperature_K=temperature_k,
        msd_na_avg_A2=float(msd_per_site[is_species].mean()),
        msd_na_max_A2=float(msd_per_site[is_species].max()),
        msd_per_site_A2=msd_per_site.tolist(),
        site_species=list(ph.primitive.symbols),
        low_freq_msd_fraction=float(na_msd_modes[low].sum() / na_msd_modes.sum()),
        low_freq_cutoff_thz=low_freq_cutoff_thz,
        low_freq_na_host_coupling=float(np.average(coupling[low], weights=q_weights[low]))
        if low.any()
        else 0.0,
        acoustic_cutoff_thz=cutoff,
        total_dos_center_thz=total[0],
        total_dos_width_thz=total[1],
        total_dos_skewness=total[2],
        total_dos_kurtosis=total[3],
        na_pdos_center_thz=na[0],
        na_pdos_width_thz=na[1],
        na_pdos_skewness=na[2],
        na_pdos_kurtosis=na[3],
        na_center_over_acoustic_cutoff=na[0] / cutoff,
    )
    return descriptors, data


class BandModeData(BaseModel):
    """Dispersion along a high-symmetry path with each mode's Na MSD, participation and coupling, for the figures."""

    distances: list[float] = Field(description="Path coordinate, 1/A, continuous over the segments")
    frequencies_thz: list[list[float]] = Field(description="(n_qpoints, n_bands)")
    na_msd_A2: list[list[float]] = Field(
        description="Each mode's contribution to one Na site's MSD (not q-weighted)"
    )
    participation_ratio: list[list[float]]
    na_host_coupling: list[list[float]]
    tick_distances: list[float]
    tick_labels: list[str]


def band_mode_data(
    ph: Phonopy,
    temperature_k: float = DEFAULT_TEMPERATURE_K,
    n_points: int = 51,
    species: str = "Na",
    freq_min_thz: float = DEFAULT_FREQ_MIN_THZ,
) -> BandModeData:
    """The per-mode quantities of ``compute_mode_data`` along seekpath's high-symmetry path (phonopy's)."""
    from phonopy.phonon.band_structure import get_band_qpoints_by_seekpath

    bands, labels, connections = get_band_qpoints_by_seekpath(
        ph.primitive, n_points, is_const_interval=True
    )
    ph.run_band_structure(
        bands, with_eigenvectors=True, path_connections=connections, labels=labels
    )
    band = ph.get_band_structure_dict()
    masses = np.asarray(ph.primitive.masses) * AMU
    is_species = _species_mask(ph, species)
    rows = {
        "distances": [],
        "frequencies_thz": [],
        "na_msd_A2": [],
        "participation_ratio": [],
        "na_host_coupling": [],
    }
    ticks = [0.0]
    for distances, frequencies, eigenvectors in zip(
        band["distances"], band["frequencies"], band["eigenvectors"], strict=True
    ):
        prefactor = mode_msd_prefactor(frequencies, temperature_k, freq_min_thz)
        for iq in range(len(distances)):
            modes = mode_quantities(eigenvectors[iq], prefactor[iq], masses, is_species)
            rows["distances"].append(float(distances[iq]))
            rows["frequencies_thz"].append(frequencies[iq].tolist())
            rows["na_msd_A2"].append(modes.na_msd_A2.tolist())
            rows["participation_ratio"].append(modes.participation_ratio.tolist())
            rows["na_host_coupling"].append(modes.na_host_coupling.tolist())
        ticks.append(float(distances[-1]))
    tick_labels = _tick_labels(labels, connections)
    return BandModeData(**rows, tick_distances=ticks, tick_labels=tick_labels)


def _tick_labels(labels: list[str], connections: list[bool]) -> list[str]:
    """phonopy's labels (mathtext; a segment's end, plus the next start where the path jumps) as one label per
    segment boundary, 'U|K' at a jump."""
    ticks, index = [labels[0]], 1
    for connected in connections:
        end = labels[index]
        index += 1
        if connected:
            ticks.append(end)
        else:
            next_start = labels[index] if index < len(labels) else ""
            index += 1
            ticks.append(f"{end}|{next_start}" if next_start else end)
    return ticks
