"""Effective phonons at temperature (``phonons.finite_temperature``) on Lennard-Jones argon, a crystal whose model
is exact and cheap: at low T the effective frequencies are the harmonic ones; at 60 K (near melting, fixed volume)
they stiffen, by the same factor hiphive's own self-consistent loop finds; a loop that cannot converge in its
iterations says so; bad temperatures are refused."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones
from md_helpers import ARGON
from phonopy import Phonopy
from phonopy.harmonic.force_constants import compact_fc_to_full_fc
from pydantic import ValidationError
from pymatgen.io.ase import AseAtomsAdaptor

from na_lattice_flows.phonons.finite_temperature import (
    EffectivePhononSettings,
    EffectivePhononsNotConverged,
    classical_free_energy_meV,
    commensurate_frequencies,
    effective_phonons,
)
from na_lattice_flows.phonons.force_constants import fit_force_constants
from na_lattice_flows.phonons.references import predict_forces, random_displacement_reference

LJ = LennardJones(sigma=ARGON["sigma"], epsilon=ARGON["epsilon"], rc=ARGON["cutoff"], smooth=True)
A = 5.30  # fcc argon's lattice parameter at ~60 K


@pytest.fixture(scope="module")
def harmonic():
    """Harmonic force constants of a 2x2x2 conventional supercell (32 atoms) from 0.01 A displacements."""
    cell = AseAtomsAdaptor.get_structure(bulk("Ar", "fcc", a=A, cubic=True))
    reference = random_displacement_reference(
        cell,
        [[2, 0, 0], [0, 2, 0], [0, 0, 2]],
        lambda cells: predict_forces(cells, LJ),
        name="Ar",
        n_supercells=4,
        amplitude_A=0.01,
    )
    return fit_force_constants(reference)


def lj_forces(ph: Phonopy):
    supercell = ph.supercell
    ideal = Atoms(
        numbers=supercell.numbers,
        cell=supercell.cell,
        scaled_positions=supercell.scaled_positions,
        pbc=True,
    )

    def forces_of(displacements):
        forces = []
        for displacement in displacements:
            atoms = ideal.copy()
            atoms.positions += displacement
            atoms.calc = LJ
            forces.append(atoms.get_forces())
        return np.asarray(forces)  # LJ fcc has no residual force at its sites: nothing to subtract

    return forces_of


def highest(ph: Phonopy, full_fc) -> float:
    fresh = Phonopy(
        ph.unitcell, supercell_matrix=ph.supercell_matrix, primitive_matrix=ph.primitive_matrix
    )
    return float(commensurate_frequencies(fresh, np.asarray(full_fc)).max())


def full_of(ph: Phonopy) -> np.ndarray:
    return compact_fc_to_full_fc(ph.primitive, ph.force_constants)


def test_effective_phonons_are_harmonic_at_low_temperature_and_stiffen_as_hiphive_finds_near_melting(
    harmonic,
):
    from hiphive import ClusterSpace
    from hiphive.force_constant_model import ForceConstantModel
    from hiphive.self_consistent_phonons import self_consistent_harmonic_model

    harmonic_top = highest(harmonic, full_of(harmonic))
    cold, cold_ph = effective_phonons(
        harmonic, lj_forces(harmonic), EffectivePhononSettings(temperature_K=5.0, n_structures=10)
    )
    assert cold.converged and highest(harmonic, full_of(cold_ph)) == pytest.approx(
        harmonic_top, rel=0.02
    )
    warm, effective = effective_phonons(
        harmonic, lj_forces(harmonic), EffectivePhononSettings(temperature_K=60.0, n_structures=10)
    )
    # two windows of 5
    assert warm.converged and warm.free_energy_change_meV < 1.0 and len(warm.iterations) >= 10
    ours = highest(harmonic, full_of(effective)) / harmonic_top
    assert 1.08 < ours < 1.20  # measured 1.13: the repulsive wall stiffens argon at fixed volume
    # compact, as the harmonic step's
    assert effective.force_constants.shape == harmonic.force_constants.shape
    fresh = Phonopy(
        harmonic.unitcell,
        supercell_matrix=harmonic.supercell_matrix,
        primitive_matrix=harmonic.primitive_matrix,
    )
    harmonic_free_energy = classical_free_energy_meV(
        commensurate_frequencies(fresh, full_of(harmonic)), 60.0, 32
    )
    stiffening = np.exp(
        (warm.iterations[-1].free_energy_meV_per_atom - harmonic_free_energy)
        / (3 * 8.617333e-2 * 60.0)
    )
    # the geometric-mean frequency, from F = 3 k_B T <ln(h nu / k_B T)> per atom
    assert 1.04 < stiffening < 1.20
    # the fit-vs-input change falls from the first iteration (harmonic -> thermal) to the noise floor
    assert warm.iterations[0].rms_change_thz > 2 * warm.iterations[-1].rms_change_thz

    # hiphive's loop on the same model and supercell (its own rattler, cluster space and fit; nearest neighbours
    # only, so its absolute frequencies differ): the same stiffening factor
    ideal = bulk("Ar", "fcc", a=A, cubic=True).repeat((2, 2, 2))
    space = ClusterSpace(bulk("Ar", "fcc", a=A), [5.2])
    np.random.seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        parameters = self_consistent_harmonic_model(ideal, LJ, space, 60.0, 0.3, 12, 10)
    model = ForceConstantModel(ideal, space)
    tops = []
    for vector in (parameters[0], np.mean(parameters[-4:], axis=0)):
        model.parameters = vector
        tops.append(highest(harmonic, model.get_force_constants().get_fc_array(order=2)))
    assert ours == pytest.approx(tops[1] / tops[0], rel=0.03)


def test_a_loop_that_cannot_converge_says_so_and_bad_temperatures_are_refused(harmonic):
    settings = EffectivePhononSettings(
        temperature_K=60.0,
        n_structures=4,
        window=2,
        max_iterations=6,
        free_energy_tolerance_meV=1e-6,
    )
    with pytest.raises(
        EffectivePhononsNotConverged,
        match=r"at 60 K: not converged in 6 iterations \(window means still moving: free energy by .* tolerance 1e-06",
    ):
        effective_phonons(harmonic, lj_forces(harmonic), settings)
    for temperature in (0.0, -300.0, float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="temperature_K"):
            EffectivePhononSettings(temperature_K=temperature)


def test_the_classical_free_energy_of_the_convergence_test_is_that_of_harmonic_oscillators():
    """3N modes at one frequency nu: F per atom = 3 k_B T ln(h nu / k_B T); the Gamma translations (0 THz) left out."""
    kT_eV = 8.617333e-5 * 800.0
    # 2 q-points, 2 atoms per cell: 4 atoms
    frequencies = np.array([[0.0, 0.0, 0.0, 5.0, 5.0, 5.0], [5.0] * 6])
    expected = 1000 * kT_eV * 9 * np.log(5.0 * 4.135667e-3 / kT_eV) / 4
    assert classical_free_energy_meV(frequencies, 800.0, 4) == pytest.approx(expected, rel=1e-5)
    # |nu| of imaginary modes
    assert classical_free_energy_meV(-frequencies, 800.0, 4) == pytest.approx(expected, rel=1e-5)


def test_md_snapshots_give_the_effective_frequencies_of_the_self_consistent_loop_and_refuse_hopping_atoms(
    harmonic, tmp_path
):
    """TDEP-style force constants from a 40 K NVT run of LJ argon (the screen's Langevin engine, forces kept)
    stiffen as the self-consistent loop's at 40 K do (both sample the anharmonic wall; classical statistics in
    both; measured +6.5 % and +9.7 to 11.2 %); a limit below the thermal amplitude is a named refusal, as a hop would be."""
    import h5py

    from na_lattice_flows.md.langevin import run_langevin_md
    from na_lattice_flows.md.settings import MDSettings
    from na_lattice_flows.phonons.snapshots import AtomsLeftTheirSites, snapshot_force_constants

    harmonic_top = highest(harmonic, full_of(harmonic))
    _, scha = effective_phonons(
        harmonic, lj_forces(harmonic), EffectivePhononSettings(temperature_K=40.0, n_structures=10)
    )
    supercell = harmonic.supercell
    ideal = Atoms(
        numbers=supercell.numbers,
        cell=supercell.cell,
        scaled_positions=supercell.scaled_positions,
        pbc=True,
    )
    settings = MDSettings(
        temperature_K=40.0,
        timestep_fs=5.0,
        n_equilibration_steps=400,
        n_production_steps=4000,
        frame_interval_steps=20,
        checkpoint_interval_steps=1000,
        store_velocities=False,
    )
    path = run_langevin_md(
        ideal, LJ, settings, tmp_path / "md.h5", progress=False, record_labels=True
    )
    with h5py.File(path, "r") as handle:
        positions, forces = (
            np.asarray(handle["positions"], float),
            np.asarray(handle["forces"], float),
        )
    residual = predict_forces([ideal], LJ)[0]
    md = snapshot_force_constants(harmonic, positions, forces, residual, 40.0)
    scha_factor, md_factor = (
        highest(harmonic, full_of(scha)) / harmonic_top,
        highest(harmonic, full_of(md)) / harmonic_top,
    )
    # two samplings of 10 structures x iterations and 200 MD frames: a few per cent apart, and the seeded loop
    # lands elsewhere on another machine's rounding (SCHA +9.7 % on one, +11.2 % on another; MD +6.5 % on both)
    assert scha_factor > 1.03 and md_factor > 1.03
    assert md_factor == pytest.approx(scha_factor, abs=0.06)
    with pytest.raises(
        AtomsLeftTheirSites,
        match=r"MD at 40 K: atom \d+ \(Ar\) is .* from its site in frame \d+ \(limit 0.05 A\)",
    ):
        snapshot_force_constants(
            harmonic, positions, forces, residual, 40.0, max_displacement_A=0.05
        )


def test_no_mode_of_a_draw_moves_an_atom_further_than_the_cap_and_a_diverging_loop_stops(harmonic):
    """Sampling force constants: unchanged when the cap is far above the thermal amplitudes; with a tight cap,
    no mode's rms displacement of any atom (k_B T / w^2 |e_i|^2 / m_i) exceeds it and the translations are kept;
    a draw whose mean displacement passes the limit is drawn again with half the cap, and at the smallest cap
    stops the loop with a named error."""
    from na_lattice_flows.phonons.finite_temperature import sampling_force_constants

    full, masses = full_of(harmonic), np.asarray(harmonic.supercell.masses)
    assert np.allclose(sampling_force_constants(full, masses, 60.0, 100.0), full, atol=1e-10)
    capped = sampling_force_constants(full, masses, 60.0, 0.02)  # argon at 60 K: ~0.1 A per mode
    weights = 1 / np.sqrt(np.repeat(masses, 3))

    def dynamical(fc):
        return fc.transpose(0, 2, 1, 3).reshape(96, 96) * np.outer(weights, weights)

    # the modes as drawn: the harmonic ones, each stiffened or not
    _, vectors = np.linalg.eigh(dynamical(full))
    values = np.einsum("is,ij,js->s", vectors, dynamical(capped), vectors)
    moving = np.argsort(np.abs(values))[3:]
    # max_i |e_i|^2 / m_i
    share = np.sum((vectors[:, moving] * weights[:, None]).reshape(32, 3, -1) ** 2, axis=1).max(
        axis=0
    )
    rms = np.sqrt(8.617333e-5 * 60.0 / values[moving] * share)
    assert rms.max() == pytest.approx(0.02, rel=1e-4) and np.allclose(
        np.sort(np.abs(values))[:3], 0, atol=1e-6
    )
    settings = EffectivePhononSettings(
        temperature_K=60.0, n_structures=2, max_mean_displacement_A=0.01
    )
    with pytest.raises(
        EffectivePhononsNotConverged,
        match=r"at 60 K: diverged in iteration 3 \(mean thermal displacement .* > 0.01 A with each mode capped at 0.1 A",
    ):
        effective_phonons(harmonic, lj_forces(harmonic), settings)


def test_a_loop_whose_soft_mode_multiplies_stops_as_running_away(harmonic):
    """Forces that turn ever more anti-restoring with each call (4x per iteration) drive every mode imaginary and
    beyond 3x the harmonic scale (at least 1 THz): the loop stops there, named, instead of running 40 iterations."""
    full = full_of(harmonic)
    calls = []

    def runaway_forces(displacements):
        calls.append(1)
        # +Phi u: anti-restoring
        return 4.0 ** len(calls) * np.einsum("ijab,njb->nia", full, displacements)

    # the fit-change rule (its own tests) off: this one is about the runaway guard
    settings = EffectivePhononSettings(
        temperature_K=60.0, n_structures=2, window=2, max_iterations=20, max_fit_change_thz=1e9
    )
    with pytest.raises(
        EffectivePhononsNotConverged,
        match=r"at 60 K: ran away by iteration \d+ \(lowest frequency -\d+\.\d+ THz over the last 2 iterations, beyond -3.00 THz, 3x",
    ):
        effective_phonons(harmonic, runaway_forces, settings)
    assert len(calls) < 10
    converging = EffectivePhononSettings(
        temperature_K=5.0, n_structures=4, window=2, max_iterations=8
    )
    # a stable solid never trips it
    record, _ = effective_phonons(harmonic, lj_forces(harmonic), converging)
    assert record.converged


def test_a_draw_whose_fit_moves_the_spectrum_beyond_any_solid_is_drawn_again_gentler(harmonic):
    """A draw that left the region the force constants describe (here: the first call's forces are noise a
    thousand times the model's, as the 1 A-per-mode draws of a pool fluoride gave, 815 THz rms) is not mixed
    in: the next draw caps each mode at half, the cap never widens past that again, and the loop converges to
    what it gives without that draw."""
    model = lj_forces(harmonic)
    calls = []

    def first_draw_wrong(displacements):
        calls.append(1)
        forces = model(displacements)
        if len(calls) == 1:
            return forces + 1e3 * np.random.default_rng(0).normal(size=forces.shape)
        return forces

    settings = EffectivePhononSettings(
        temperature_K=5.0, n_structures=6, window=2, max_iterations=12
    )
    record, effective = effective_phonons(harmonic, first_draw_wrong, settings)
    assert record.converged and record.rejected_draws == 1
    caps = [r.mode_displacement_cap_A for r in record.iterations]
    assert (
        caps[0] == 0.125 and max(caps) == 0.125
    )  # half the first cap, and the ceiling from then on
    assert highest(harmonic, full_of(effective)) == pytest.approx(
        highest(harmonic, full_of(harmonic)), rel=0.03
    )  # 5 K: the harmonic spectrum, as if the bad draw had never been


def test_a_fit_beyond_any_solid_at_the_narrowest_cap_stops_the_loop_as_diverged(harmonic):
    """Forces that are noise a thousand times the model's on every call: the cap halves down to its minimum,
    and the fit made there is not mixed in either (it would send the loop to -1e4 THz, judged "ran away", as
    Na2TeO4's did): the loop stops, named, with the fit's change and the cap in the reason."""
    model = lj_forces(harmonic)
    rng = np.random.default_rng(0)

    def always_wrong(displacements):
        forces = model(displacements)
        return forces + 1e3 * rng.normal(size=forces.shape)

    settings = EffectivePhononSettings(temperature_K=5.0, n_structures=6, window=2)
    with pytest.raises(
        EffectivePhononsNotConverged,
        match=r"at 5 K: diverged in iteration 3 \(a fit moved the commensurate frequencies by .* THz rms > 8 THz "
        r"with each mode capped at 0.1 A",
    ):
        effective_phonons(harmonic, always_wrong, settings)
