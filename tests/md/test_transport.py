"""Transport analysis against analytic cases (random walk of known D, harmonic oscillator, Einstein crystal) and
against kinisi and pymatgen-analysis-diffusion on the same trajectory."""

from __future__ import annotations

import numpy as np
import pytest
from md_helpers import random_walk

from na_lattice_flows.md.diffusion import (
    arrhenius_fit,
    element_diffusion,
    is_melted,
    msd_xyz,
    nernst_einstein_conductivity_mS_per_cm,
    vdos,
    vdos_center_thz,
)
from na_lattice_flows.md.trajectory import MDTrajectory, unwrap_fractional
from na_lattice_flows.md.transport import kinisi_diffusion

D_TRUE = 0.05  # A^2/ps = 5e-6 cm^2/s, a good Na conductor at 800 K


def test_fft_msd_equals_the_direct_all_origins_average():
    rng = np.random.default_rng(0)
    positions = np.cumsum(rng.normal(size=(60, 5, 3)), axis=0)
    direct = np.array(
        [
            [
                (
                    (positions[lag:, :, axis] - positions[: len(positions) - lag, :, axis]) ** 2
                ).mean()
                for axis in range(3)
            ]
            for lag in range(60)
        ]
    )
    np.testing.assert_allclose(msd_xyz(positions), direct, rtol=1e-10, atol=1e-10)


def test_random_walk_recovers_its_diffusion_coefficient():
    trajectory = random_walk(D_TRUE)
    na, msd = element_diffusion(trajectory, "Na")
    # 256 walkers x 3 axes: the estimate's relative scatter is ~3 %; 12 % is four standard deviations
    assert na.D_avg_A2_per_ps == pytest.approx(D_TRUE, rel=0.12)
    for d in na.D_xyz_A2_per_ps:
        assert d == pytest.approx(D_TRUE, rel=0.2)
    assert na.D_max_A2_per_ps == max(na.D_xyz_A2_per_ps)
    np.testing.assert_allclose(msd[200].sum(), 6 * D_TRUE * trajectory.times_ps[200], rtol=0.15)
    cl, _ = element_diffusion(trajectory, "Cl")
    assert abs(cl.D_avg_A2_per_ps) < 1e-10
    assert is_melted([cl], trajectory.times_ps[-1]) == (False, None)
    assert is_melted([cl], 2.0)[0] is None  # too short to tell
    with pytest.raises(ValueError, match="no Li in this trajectory"):
        element_diffusion(trajectory, "Li")


def test_true_d_lies_in_kinisi_interval_and_the_estimates_agree():
    """kinisi's 95 % credible interval must hold the true D; our zero-intercept D agrees with kinisi's median,
    and with pymatgen-analysis-diffusion's (its own MSD and fit), on the same trajectory."""
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer
    from pymatgen.core import Lattice, Structure

    trajectory = random_walk(D_TRUE, n_walkers=128, n_frames=1001, seed=4)
    ours, _ = element_diffusion(trajectory, "Na")
    result = kinisi_diffusion(trajectory, "Na", n_samples=500)
    low, high = result.D_interval_A2_per_ps
    assert low < D_TRUE < high
    assert ours.D_avg_A2_per_ps == pytest.approx(result.D_A2_per_ps, rel=0.1)
    # independent walkers: collective and tracer diffusion coincide on average (Haven ratio 1, within noise)
    assert result.haven_ratio is not None and 0.3 < result.haven_ratio < 3

    lattice = Lattice(trajectory.mean_cell)
    structures = [
        Structure(lattice, trajectory.species, frame, coords_are_cartesian=True)
        for frame in trajectory.positions
    ]
    pymatgen = DiffusionAnalyzer.from_structures(
        structures,
        "Na",
        temperature=800,
        time_step=trajectory.frame_interval_fs,
        step_skip=1,
        smoothed="max",
    )
    pymatgen_D = pymatgen.diffusivity * 1e4  # cm^2/s -> A^2/ps
    assert ours.D_avg_A2_per_ps == pytest.approx(pymatgen_D, rel=0.1)
    # Nernst-Einstein: pymatgen's conductivity (mS/cm) from its own D
    expected = nernst_einstein_conductivity_mS_per_cm(pymatgen_D, 128, lattice.volume, 800)
    assert expected == pytest.approx(pymatgen.conductivity, rel=1e-3)


def test_a_diffusing_framework_is_flagged_melted():
    trajectory = random_walk(D_TRUE)
    # half the walkers are "framework"
    trajectory.species = ["Na"] * 128 + ["S"] * 128 + ["Cl"] * 32
    sulfur, _ = element_diffusion(trajectory, "S")
    melted, reason = is_melted([sulfur])
    assert melted and reason.startswith("S diffuses")
    wobbling = random_walk(1e-3, n_frames=2001)  # below the D threshold along y and z ...
    wobbling.positions[-400:, :256, 0] += (
        1.5  # ... but shifted by 1.5 A along x at the end: a destroyed cell
    )
    wobbling.species = ["S"] * 256 + ["Cl"] * 32
    tail, _ = element_diffusion(wobbling, "S")
    assert is_melted([tail])[0] and "tail MSD" in is_melted([tail])[1]


def test_vdos_center_of_harmonic_oscillators_is_their_frequency():
    nu_thz, frame_fs, n = 4.0, 2.0, 8000
    rng = np.random.default_rng(2)
    t_fs = np.arange(n) * frame_fs
    phases = rng.uniform(0, 2 * np.pi, size=(16, 3))
    velocities = np.cos(2 * np.pi * nu_thz * 1e-3 * t_fs[:, None, None] + phases)
    frequencies, dos = vdos(velocities, frame_fs)
    assert np.trapezoid(dos, frequencies) == pytest.approx(1.0, rel=1e-3)
    assert vdos_center_thz(frequencies, dos) == pytest.approx(nu_thz, rel=0.01)


def test_arrhenius_fit_recovers_activation_energy_and_matches_pymatgen():
    from pymatgen.analysis.diffusion.analyzer import fit_arrhenius

    temperatures = np.array([500.0, 600.0, 700.0, 800.0])
    exact = 10.0 * np.exp(-0.25 / (8.617333262e-5 * temperatures))
    fit = arrhenius_fit(temperatures, exact)
    assert fit.activation_energy_eV == pytest.approx(0.25, rel=1e-9)
    assert fit.prefactor_A2_per_ps == pytest.approx(10.0, rel=1e-9)
    noisy = exact * np.exp(np.random.default_rng(3).normal(0, 0.1, size=4))
    with_errors = arrhenius_fit(temperatures, noisy, 0.1 * noisy)
    assert abs(with_errors.activation_energy_eV - 0.25) < 3 * with_errors.activation_energy_err_eV
    ea, _, _ = fit_arrhenius(temperatures, noisy)
    assert arrhenius_fit(temperatures, noisy).activation_energy_eV == pytest.approx(ea, rel=1e-6)
    with pytest.raises(ValueError, match="positive D"):
        arrhenius_fit([500, 600], [0.1, 0.0])


def test_unwrapping_undoes_periodic_wrapping():
    trajectory = random_walk(0.5, n_walkers=8, n_frames=500, box=6.0)
    fractional = trajectory.positions @ np.linalg.inv(trajectory.cell)
    wrapped = fractional - np.floor(fractional)
    np.testing.assert_allclose(
        unwrap_fractional(wrapped, trajectory.cell) - trajectory.positions, 0.0, atol=1e-9
    )


def test_bad_trajectories_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="positions must be"):
        MDTrajectory(
            species=["Na"], positions=np.zeros((5, 2, 3)), cell=np.eye(3), frame_interval_fs=1.0
        )
    with pytest.raises(ValueError, match="at least 3 frames"):
        MDTrajectory(
            species=["Na"], positions=np.zeros((2, 1, 3)), cell=np.eye(3), frame_interval_fs=1.0
        )
    with pytest.raises(ValueError, match="fit window"):
        element_diffusion(random_walk(0.1, n_walkers=4, n_frames=20), "Na", window=(0.5, 0.2))


def test_na_probability_density_is_written_as_a_chgcar(tmp_path):
    from pymatgen.io.vasp.outputs import Chgcar

    from na_lattice_flows.md.transport import probability_density_chgcar

    trajectory = random_walk(0.5, n_walkers=16, n_frames=300, box=8.0)
    probability_density_chgcar(trajectory, str(tmp_path / "na.CHGCAR"), grid_A=0.5)
    density = Chgcar.from_file(tmp_path / "na.CHGCAR").data["total"]
    assert density.shape == (16, 16, 16) and density.min() >= 0 and density.max() > 0
    # only the Na walkers count: the voxels around the static Cl, which no walker reached, stay empty
    assert np.count_nonzero(density == 0) > 0


def test_arrhenius_over_a_temperature_series_in_the_transport_summary():
    from na_lattice_flows.md.diffusion import ElementDiffusion
    from na_lattice_flows.md.jobs import summarize_transport
    from na_lattice_flows.md.transport import TransportAnalysis

    def run(temperature, d, melted=False):
        na = ElementDiffusion(
            element="Na",
            n_atoms=8,
            D_avg_A2_per_ps=d,
            D_xyz_A2_per_ps=[d] * 3,
            D_max_A2_per_ps=d,
            tail_msd_xyz_A2=[1, 1, 1],
        )
        return TransportAnalysis(
            species="Na",
            temperature_K=temperature,
            n_frames=100,
            duration_ps=60,
            fit_window=(0.1, 0.5),
            elements={"Na": na},
            D_avg_A2_per_ps=d,
            D_max_A2_per_ps=d,
            D_xyz_A2_per_ps=[d] * 3,
            melted=melted,
        )

    temperatures = [500.0, 600.0, 700.0, 800.0]
    exact = [10.0 * np.exp(-0.3 / (8.617333262e-5 * t)) for t in temperatures]
    summary = summarize_transport.original(
        "x",
        [run(t, d) for t, d in zip(temperatures, exact, strict=True)]
        + [run(900.0, 5.0, melted=True)],
        800.0,
    )
    assert summary.reference_temperature_K == 800 and summary.D_avg_A2_per_ps == pytest.approx(
        exact[-1]
    )
    # the melted 900 K run left out
    assert summary.arrhenius.activation_energy_eV == pytest.approx(0.3, rel=1e-9)
    assert summary.arrhenius.temperatures_K == temperatures


def test_transport_figures_of_runs_shorter_than_the_melt_filters_10_ps_are_marked_unconverged():
    from na_lattice_flows.analysis.html import table_html
    from na_lattice_flows.md.diffusion import transport_convergence

    assert transport_convergence(None) == (None, None)  # no MD
    assert transport_convergence(10.05) == (True, None)  # the campaign preset
    converged, note = transport_convergence(0.45)  # the demo's
    assert converged is False and note.startswith("0.45 ps of production < 10 ps")
    # the report greys such a row and stars its transport figures, not the others
    import pandas as pd

    page = table_html(
        pd.DataFrame(
            {
                "candidate_id": ["short", "long"],
                "D_avg_A2_per_ps": [0.35, 0.02],
                "msd_na_avg_A2": [0.1, 0.2],
                "transport_converged": [False, True],
            }
        )
    )
    short, long = page.split("<tr")[2:]
    assert "unconverged" in short and ">0.35*<" in short and ">0.1<" in short
    assert "unconverged" not in long and ">0.02<" in long


def vibrating(
    n_atoms: int = 128, n_frames: int = 2001, frame_fs: float = 6.0, amplitude_A: float = 0.2
):
    """Na bound to fixed sites: independent Ornstein-Uhlenbeck displacements (relaxation 0.1 ps) of rms
    ``amplitude_A`` per axis, a solid's vibrational MSD plateau of 2 amplitude^2 per axis and no diffusion."""
    rng = np.random.default_rng(3)
    dt_ps, tau_ps = frame_fs / 1000.0, 0.1
    decay = np.exp(-dt_ps / tau_ps)
    u = np.empty((n_frames, n_atoms, 3))
    u[0] = rng.normal(0, amplitude_A, size=(n_atoms, 3))
    for i in range(1, n_frames):
        u[i] = decay * u[i - 1] + np.sqrt(1 - decay**2) * rng.normal(
            0, amplitude_A, size=(n_atoms, 3)
        )
    sites = rng.uniform(0, 20.0, size=(n_atoms, 3))
    return MDTrajectory(
        species=["Na"] * n_atoms,
        positions=sites + u,
        cell=np.eye(3) * 20.0,
        frame_interval_fs=frame_fs,
        temperature_K=800.0,
    )


def test_a_vibrational_plateau_is_not_read_as_diffusion():
    from na_lattice_flows.md.diffusion import diffusion_resolved, transport_convergence

    solid = vibrating()  # 12 ps, plateau 3 x 2 x 0.04 = 0.24 A^2
    na, _ = element_diffusion(solid, "Na")
    # the paper's zero-intercept fit reads the plateau as D ~ 0.24 / (6 x 0.34 x 12 ps) ~ 0.01 A^2/ps ...
    assert na.D_avg_A2_per_ps == pytest.approx(0.24 * 0.12 / 0.0413 / 6 / 12, rel=0.1)
    # ... which the MSD's growth across the window, with an intercept, shows for what it is
    assert abs(na.msd_growth_A2) < 0.02 and na.msd_intercept_A2 == pytest.approx(0.24, rel=0.1)
    assert diffusion_resolved(na.msd_growth_A2, na.msd_intercept_A2) is False
    converged, note = transport_convergence(12.0, na.msd_growth_A2, na.msd_intercept_A2)
    assert converged is False and note.startswith("no diffusion resolved in 12 ps")
    # a slow conductor on the same clock is resolved: D 0.01 A^2/ps rises 6 D x 4.8 ps ~ 0.29 A^2 in the window
    walker, _ = element_diffusion(random_walk(0.01, n_frames=2001), "Na")
    assert walker.msd_growth_A2 == pytest.approx(6 * 0.01 * 0.4 * 12.0, rel=0.2)
    assert diffusion_resolved(walker.msd_growth_A2, walker.msd_intercept_A2) is True
    assert transport_convergence(12.0, walker.msd_growth_A2, walker.msd_intercept_A2) == (
        True,
        None,
    )
    # runs recorded before the measurement are judged by their length alone
    assert diffusion_resolved(None, None) is None and transport_convergence(12.0) == (True, None)


def test_the_campaigns_na2s_run_is_a_plateau():
    """Cubic Na2S at 800 K, 10.05 ps of 7net-0 MD (benchmarks/records/campaign-md-800K/control-Na2S.csv, 200
    points of its Na MSD): no diffusion resolved, where the zero-intercept fit reported D_avg 0.017 A^2/ps."""
    from pathlib import Path

    import pandas as pd

    from na_lattice_flows.md.diffusion import (
        DEFAULT_FIT_WINDOW,
        diffusion_resolved,
        fit_window_mask,
        msd_growth,
    )

    path = (
        Path(__file__).parents[2]
        / "benchmarks"
        / "records"
        / "campaign-md-800K"
        / "control-Na2S.csv"
    )
    curve = pd.read_csv(path)
    times = curve["time_ps"].to_numpy()
    total = curve[["msd_na_x_A2", "msd_na_y_A2", "msd_na_z_A2"]].sum(axis=1).to_numpy()
    window = fit_window_mask(times, DEFAULT_FIT_WINDOW)
    growth, intercept = msd_growth(times[window], total[window])
    assert diffusion_resolved(growth, intercept) is False
    assert 0.3 < intercept < 0.4 and abs(growth) < 0.05


def test_a_rattling_framework_is_not_melted_by_its_plateau():
    """Cubic Na3PS4's PS4 units at 800 K (campaign sitting 5): P and S level at 0.25-0.4 A^2 and the
    zero-intercept fit over a 10 ps run reads that as D >= 1e-2 A^2/ps along every axis, the melt threshold.
    A framework that vibrates does not melt; one that diffuses still does (test above)."""
    rattling = vibrating(amplitude_A=0.25)  # 12 ps, plateau 2 x 0.0625 A^2 per axis
    rattling.species = ["S"] * len(rattling.species)
    sulfur, _ = element_diffusion(rattling, "S")
    assert min(sulfur.D_xyz_A2_per_ps) >= 1e-2  # by D alone: "S diffuses", melted
    assert is_melted([sulfur], 12.0) == (False, None)
    # a record without the growth figures (before 0.8) is judged by D alone, as it was
    before = sulfur.model_copy(update={"msd_growth_A2": None, "msd_intercept_A2": None})
    assert is_melted([before], 12.0)[0] is True
