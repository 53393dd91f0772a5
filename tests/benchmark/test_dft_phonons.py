"""DFT phonons beside the MLP's on real phononDB data (VASP PBEsol forces): a model whose forces are the DFT
forces scaled by s has force constants scaled by s, so frequencies scaled by sqrt(s) exactly and, in the
classical limit, an MSD scaled by 1/s; the same forces give the same everything."""

from __future__ import annotations

import numpy as np
import pytest

from na_lattice_flows.benchmark.dft_phonons import compare_phonons
from na_lattice_flows.phonons.references import load_reference


@pytest.fixture(scope="module")
def reference(phonondb_dev):
    return load_reference(min(phonondb_dev.glob("*.tar.lzma")))


def test_scaled_forces_scale_frequencies_and_the_na_msd(reference):
    same = compare_phonons(reference, reference.forces, "dft", 800.0)
    assert same.msd_ratio_mlp_over_dft == pytest.approx(1.0) and same.ifc2_rmse_eV_per_A2 < 1e-12
    np.testing.assert_allclose(
        same.bands["mlp_frequencies_thz"], same.bands["dft_frequencies_thz"], atol=1e-9
    )
    stiffer = compare_phonons(reference, 4.0 * np.asarray(reference.forces), "stiffer", 800.0)
    np.testing.assert_allclose(
        stiffer.bands["mlp_frequencies_thz"],
        2.0 * np.asarray(stiffer.bands["dft_frequencies_thz"]),
        atol=1e-6,
    )
    # quantum MSD per mode ~ coth(x)/omega with x = h nu / 2kT: 1/4 at high T, a little more where x is not small
    assert 0.25 <= stiffer.msd_ratio_mlp_over_dft < 0.27
    assert stiffer.dft_stability.dynamically_stable == stiffer.mlp_stability.dynamically_stable
    assert len(stiffer.bands["distances"]) == len(stiffer.bands["dft_frequencies_thz"])


def test_the_report_overlays_the_dispersions(reference, tmp_path):
    from na_lattice_flows.analysis.training_figures import dispersion_overlay

    comparison = compare_phonons(
        reference, 4.0 * np.asarray(reference.forces), "stiffer", 800.0
    ).model_dump()
    paths = dispersion_overlay(comparison, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(
        p.stat().st_size > 5000 for p in paths
    )
