"""Lattice-dynamics descriptors against independent references: the analytic Einstein-oscillator MSD,
phonopy's own thermal displacements on the phononDB DFT force constants, sum rules of the mode decomposition,
and the acoustic cutoff read off the dispersion."""

from __future__ import annotations

import numpy as np
import pytest
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms
from scipy import constants

from na_lattice_flows.phonons.descriptors import (
    acoustic_cutoff,
    compute_mode_data,
    phonon_descriptors,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import load_reference


def einstein_crystal(spring_eV_per_A2: float) -> Phonopy:
    """One Na atom per cell bound to its site only: three modes at omega = sqrt(k/m) at every q."""
    atoms = PhonopyAtoms(symbols=["Na"], cell=np.eye(3) * 6.0, scaled_positions=[[0, 0, 0]])
    ph = Phonopy(atoms, supercell_matrix=np.eye(3, dtype=int), primitive_matrix="P")
    ph.force_constants = (np.eye(3) * spring_eV_per_A2)[None, None]
    return ph


@pytest.mark.parametrize("temperature", [0.0, 300.0, 800.0])
def test_einstein_oscillator_msd_is_analytic(temperature):
    k = 1.5  # eV/A^2
    mass = 22.98977 * constants.atomic_mass
    omega = np.sqrt(k * constants.eV * 1e20 / mass)
    x = constants.hbar * omega / (2 * constants.k * temperature) if temperature else np.inf
    # A^2
    expected = constants.hbar / (2 * mass * omega) * (1 / np.tanh(x) if temperature else 1.0) * 1e20
    descriptors, data = phonon_descriptors(
        einstein_crystal(k), temperature_k=temperature, mesh=[4, 4, 4]
    )
    # rtol 1e-6: phonopy's unit conversion constants differ from CODATA's in the 7th digit
    np.testing.assert_allclose(
        np.asarray(data.frequencies_thz), omega / (2 * np.pi * 1e12), rtol=1e-6
    )
    np.testing.assert_allclose(descriptors.msd_per_site_A2, [[expected] * 3], rtol=1e-6)
    assert descriptors.msd_na_avg_A2 == pytest.approx(expected, rel=1e-6)
    if temperature == 800.0:  # high-temperature (classical) limit k_B T / k
        assert expected == pytest.approx(constants.k * 800 / (k * constants.eV), rel=0.01)


@pytest.fixture(scope="module", params=["mp-28782", "mp-22862", "mp-648"])
def dft_phonopy(request, phonondb_dev):
    return request.param, fit_force_constants(
        load_reference(phonondb_dev / f"{request.param}.tar.lzma")
    )


def test_msd_equals_phonopys_thermal_displacements_on_dft_data(dft_phonopy):
    _, ph = dft_phonopy
    descriptors, _ = phonon_descriptors(ph, temperature_k=800.0, mesh=[6, 6, 6])
    ph.run_mesh([6, 6, 6], with_eigenvectors=True, is_gamma_center=True, is_mesh_symmetry=False)
    ph.run_thermal_displacements(temperatures=[800.0], freq_min=1e-3)
    reference = ph.get_thermal_displacements_dict()["thermal_displacements"][0].reshape(-1, 3)
    np.testing.assert_allclose(descriptors.msd_per_site_A2, reference, rtol=1e-6, atol=1e-10)
    na = np.array(descriptors.site_species) == "Na"
    assert descriptors.msd_na_avg_A2 == pytest.approx(reference[na].mean(), rel=1e-6)
    assert descriptors.msd_na_max_A2 == pytest.approx(reference[na].max(), rel=1e-6)


def test_mode_decomposition_sums_to_the_total(dft_phonopy):
    _, ph = dft_phonopy
    descriptors, data = phonon_descriptors(ph, temperature_k=800.0, mesh=[5, 5, 5])
    assert np.sum(data.na_msd_A2) == pytest.approx(descriptors.msd_na_avg_A2, rel=1e-10)
    weights = np.asarray(data.na_weight)
    assert np.all((weights >= -1e-12) & (weights <= 1 + 1e-12))
    n_sites = len(descriptors.site_species)
    participation = np.asarray(data.participation_ratio)
    assert participation.min() >= 1 / n_sites - 1e-9 and participation.max() <= 1 + 1e-9
    assert 0.0 <= descriptors.low_freq_msd_fraction <= 1.0


def test_participation_and_coupling_of_limiting_modes():
    # a one-site (all-Na) crystal: every mode has PR = 1, all its amplitude on Na, and no host to couple to
    data = compute_mode_data(einstein_crystal(1.0), mesh=[2, 2, 2])[0]
    # a single site always participates fully
    np.testing.assert_allclose(data.participation_ratio, 1.0)
    np.testing.assert_allclose(data.na_weight, 1.0)
    np.testing.assert_allclose(data.na_host_coupling, 0.0)


def test_cubic_acoustic_cutoff_matches_the_dispersion(phonondb_dev):
    ph = fit_force_constants(load_reference(phonondb_dev / "mp-22862.tar.lzma"))  # NaCl, Fm-3m
    descriptors, _ = phonon_descriptors(ph, mesh=[8, 8, 8])
    # the dispersion along Gamma-X-U|K-Gamma-L: highest frequency of the three lowest branches
    ph.auto_band_structure(npoints=101)
    path_cutoff = max(
        acoustic_cutoff(np.asarray(f)) for f in ph.get_band_structure_dict()["frequencies"]
    )
    assert descriptors.acoustic_cutoff_thz == pytest.approx(path_cutoff, rel=0.02)


def test_phonons_command_prints_the_documented_fields(phonondb_dev, capsys):
    import json

    from na_lattice_flows.cli import main

    assert (
        main(["phonons", str(phonondb_dev / "mp-648.tar.lzma"), "--temperature", "300", "--json"])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    for key in (
        "dynamically_stable",
        "min_frequency_thz",
        "acoustic_cutoff_thz",
        "msd_na_avg_A2",
        "msd_na_max_A2",
        "na_pdos_center_thz",
        "total_dos_center_thz",
        "low_freq_msd_fraction",
    ):
        assert key in result
    assert (
        result["formula"] == "Na2S"
        and result["dynamically_stable"] is True
        and result["temperature_K"] == 300
    )
    assert 0 < result["msd_na_avg_A2"] <= result["msd_na_max_A2"] < 0.1


def test_band_path_modes_sum_to_the_analytic_einstein_msd():
    """Along the path every q carries the whole Einstein MSD in its three bands, coupling 0 (no host)."""
    from na_lattice_flows.phonons.descriptors import band_mode_data

    k, temperature = 1.5, 800.0
    mass = 22.98977 * constants.atomic_mass
    omega = np.sqrt(k * constants.eV * 1e20 / mass)
    x = constants.hbar * omega / (2 * constants.k * temperature)
    expected = constants.hbar / (2 * mass * omega) / np.tanh(x) * 1e20
    band = band_mode_data(einstein_crystal(k), temperature_k=temperature, n_points=5)
    np.testing.assert_allclose(np.sum(band.na_msd_A2, axis=1), expected, rtol=1e-6)
    np.testing.assert_allclose(band.na_host_coupling, 0.0, atol=1e-12)
    assert len(band.tick_labels) == len(band.tick_distances) and band.tick_distances[
        -1
    ] == pytest.approx(band.distances[-1])


def test_band_path_modes_at_gamma_equal_the_mesh_modes(phonondb_dev):
    from na_lattice_flows.phonons.descriptors import band_mode_data

    # NaCl; seekpath's path starts at Gamma
    ph = fit_force_constants(load_reference(phonondb_dev / "mp-22862.tar.lzma"))
    mesh, _ = compute_mode_data(ph, temperature_k=800.0, mesh=[4, 4, 4])
    band = band_mode_data(ph, temperature_k=800.0, n_points=11)
    np.testing.assert_allclose(band.frequencies_thz[0], mesh.frequencies_thz[0], atol=1e-6)
    # the three acoustic modes at Gamma carry no MSD
    active = np.asarray(band.frequencies_thz[0]) > 1e-3
    np.testing.assert_allclose(
        np.asarray(band.na_msd_A2[0])[active],
        np.asarray(mesh.na_msd_A2[0])[active] / mesh.weights[0],
        rtol=1e-8,
    )
    np.testing.assert_allclose(band.participation_ratio[0], mesh.participation_ratio[0], rtol=1e-6)
    assert band.tick_labels[0] == "$\\Gamma$"
