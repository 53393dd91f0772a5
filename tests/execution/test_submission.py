"""Idempotent submission: a symmetry-aware structure fingerprint, confirmed by StructureMatcher, plus the flow's
settings decide what is a repeat; --force resubmits."""

from __future__ import annotations

import time

import numpy as np
import pytest
from jobflow import Flow, job
from pymatgen.core import Lattice, Structure

from na_lattice_flows.candidates.demo_set import demo_candidates
from na_lattice_flows.candidates.fingerprints import (
    same_crystal,
    settings_fingerprint,
    structure_identity,
)
from na_lattice_flows.candidates.loaders import Candidate, LoadResult
from na_lattice_flows.candidates.screen import screen_candidates
from na_lattice_flows.execution.launching import run_ready_jobs
from na_lattice_flows.execution.results import rejections_table
from na_lattice_flows.execution.stores import open_session
from na_lattice_flows.execution.submission import submit_candidates
from na_lattice_flows.relax.jobs import MLPRelaxMaker
from na_lattice_flows.workflow.screening import ScreeningFlowMaker


def disguised(structure: Structure, seed: int) -> Structure:
    """The same crystal as another database might hold it: a supercell, atoms reordered, origin shifted, positions
    and lattice perturbed well inside the symmetry tolerance."""
    rng = np.random.default_rng(seed)
    cell = structure * (2, 1, 1)
    cell = Structure.from_sites([cell[i] for i in rng.permutation(len(cell))])
    cell.translate_sites(list(range(len(cell))), rng.random(3), frac_coords=True)
    for i in range(len(cell)):
        cell.translate_sites([i], rng.normal(scale=0.005, size=3), frac_coords=False)
    return cell


def fingerprint(structure: Structure) -> str:
    return structure_identity(structure).fingerprint


def test_fingerprint_ignores_cell_choice_order_origin_and_noise(pool):
    rng = np.random.default_rng(0)
    sample = [c.structure for c in demo_candidates()] + [
        pool.candidates[i].structure for i in rng.choice(len(pool.candidates), 20, replace=False)
    ]
    for index, structure in enumerate(sample):
        key = fingerprint(structure)
        assert fingerprint(structure.get_primitive_structure()) == key
        assert fingerprint(disguised(structure, index)) == key, (
            structure.composition.reduced_formula
        )


def fingerprint_as_in_0_1(structure: Structure) -> str:
    """Release 0.1's derivation, through pymatgen: the orbits of its standard primitive cell, analysed again."""
    import hashlib
    from collections import Counter

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from na_lattice_flows.candidates.fingerprints import SYMPREC

    primitive = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_primitive_standard_structure()
    analyzer = SpacegroupAnalyzer(primitive, symprec=SYMPREC)
    dataset = analyzer.get_symmetry_dataset()
    orbits = Counter(dataset.equivalent_atoms)
    descriptions = sorted(
        f"{primitive[atom].species_string}:{size}:{dataset.site_symmetry_symbols[atom]}"
        for atom, size in orbits.items()
    )
    digest = hashlib.sha1(";".join(descriptions).encode()).hexdigest()[:10]
    return f"{structure.composition.reduced_formula}-{analyzer.get_space_group_number()}-{digest}"


def test_fingerprints_are_those_of_0_1_and_the_canonical_cell_is_the_same_crystal(pool):
    """Stores written by 0.1 hold its keys: resubmitting their structures must find them (the whole pool agreed
    when the derivation changed; a seeded sample here, as the pool's cells come, and as supercells)."""
    rng = np.random.default_rng(7)
    sample = [
        pool.candidates[i].structure for i in rng.choice(len(pool.candidates), 120, replace=False)
    ]
    for index, structure in enumerate(sample):
        assert fingerprint(structure) == fingerprint_as_in_0_1(structure), (
            structure.composition.reduced_formula
        )
        if index % 4 == 0:
            supercell = structure * (1, 2, 1)
            assert fingerprint(supercell) == fingerprint_as_in_0_1(supercell)
            assert same_crystal(structure, structure_identity(supercell).canonical_cell)


def test_fingerprint_separates_polymorphs_and_compositions():
    rock_salt = demo_candidates()[0].structure
    cesium_chloride = Structure(Lattice.cubic(3.4), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert fingerprint(rock_salt).startswith("NaCl-225-") and fingerprint(
        cesium_chloride
    ).startswith("NaCl-221-")
    zinc_blende = Structure(
        Lattice.cubic(6.0),
        ["Na"] * 4 + ["Cl"] * 4,
        [
            [0, 0, 0],
            [0, 0.5, 0.5],
            [0.5, 0, 0.5],
            [0.5, 0.5, 0],
            [0.25] * 3,
            [0.25, 0.75, 0.75],
            [0.75, 0.25, 0.75],
            [0.75, 0.75, 0.25],
        ],
    )
    assert (
        len({fingerprint(rock_salt), fingerprint(cesium_chloride), fingerprint(zinc_blende)}) == 3
    )


def test_a_shared_key_is_confirmed_by_structure_matcher(pool):
    """Pairs of the pool with the same key: KNa(BH4)2 mp-23758/mp-568428 are two crystals, NaOH mp-625051/mp-625052
    one crystal entered twice."""
    by_id = {c.candidate_id: c.structure for c in pool.candidates}
    for first, second, same in (("mp-23758", "mp-568428", False), ("mp-625051", "mp-625052", True)):
        a, b = structure_identity(by_id[first]), structure_identity(by_id[second])
        assert a.fingerprint == b.fingerprint
        assert same_crystal(by_id[second], a.canonical_cell) == same


def relax_only(model: str = "chgnet") -> ScreeningFlowMaker:
    return ScreeningFlowMaker(
        relax_maker=MLPRelaxMaker(model=model), phonon_maker=None, md_maker=None
    )


def submit(session, candidates: list[Candidate], maker: ScreeningFlowMaker, force: bool = False):
    record = submit_candidates(
        session, screen_candidates(LoadResult(candidates=candidates)), ["test"], maker, force=force
    )
    repeats = {
        r.candidate_id: r.reason
        for r in record.rejections
        if r.reason.startswith("already submitted")
    }
    return set(record.submitted), repeats


def test_resubmitting_adds_nothing_already_submitted_or_finished_unless_forced(
    embedded_settings, pool
):
    demo = {c.candidate_id: c for c in demo_candidates()}
    nacl, na3ocl, na2s = demo["demo-NaCl"], demo["demo-Na3OCl"], demo["demo-Na2S"]
    by_id = {c.candidate_id: c.structure for c in pool.candidates}
    with open_session(embedded_settings) as session:
        assert submit(session, [nacl, na3ocl], relax_only()) == ({"demo-NaCl", "demo-Na3OCl"}, {})
        run_ready_jobs(session, progress=False)

        # the same NaCl under another id and cell, beside a new structure: only the new one is added
        copy = Candidate(
            candidate_id="other-db-NaCl", structure=disguised(nacl.structure, 7), source="test"
        )
        submitted, repeats = submit(session, [copy, na3ocl, na2s], relax_only())
        assert submitted == {"demo-Na2S"}
        assert (
            "as demo-NaCl" in repeats["other-db-NaCl"] and "COMPLETED" in repeats["other-db-NaCl"]
        )
        # submitted, not yet run
        assert "READY" in submit(session, [na2s], relax_only())[1]["demo-Na2S"]

        # other settings are other work; --force resubmits the same
        assert submit(session, [nacl], relax_only("7net-0")) == ({"demo-NaCl"}, {})
        assert submit(session, [nacl], relax_only(), force=True) == ({"demo-NaCl"}, {})

        # a shared key alone is no repeat: the second KNa(BH4)2 is another crystal, the second NaOH is not
        one = [
            Candidate(candidate_id=cid, structure=by_id[cid], source="pool")
            for cid in ("mp-23758", "mp-625051")
        ]
        two = [
            Candidate(candidate_id=cid, structure=by_id[cid], source="pool")
            for cid in ("mp-568428", "mp-625052")
        ]
        assert submit(session, one, relax_only())[0] == {"mp-23758", "mp-625051"}
        submitted, repeats = submit(session, two, relax_only())
        assert submitted == {"mp-568428"} and set(repeats) == {"mp-625052"}
        assert session.launchpad.workflows.count_documents({}) == 2 + 1 + 2 + 2 + 1
        listed = rejections_table(session)
    assert {"other-db-NaCl", "mp-625052"} <= set(listed.candidate_id)


def test_settings_fingerprint_follows_every_setting_but_not_package_versions():
    base = settings_fingerprint(relax_only())
    assert settings_fingerprint(relax_only()) == base
    assert settings_fingerprint(relax_only("7net-0")) != base
    assert (
        settings_fingerprint(
            ScreeningFlowMaker(
                relax_maker=MLPRelaxMaker(relax_kwargs={"fmax": 0.02}),
                phonon_maker=None,
                md_maker=None,
            )
        )
        != base
    )
    described = relax_only().as_dict()
    assert "@version" in described  # what the fingerprint must leave out


def test_settings_fingerprint_ignores_module_paths_and_the_trajectory_folder(monkeypatch, tmp_path):
    """A reorganised package or another output folder does not make finished work new; the 0.1 fingerprint,
    which hashed both, is computed by the 0.1 rules (module paths of the flat layout)."""
    from na_lattice_flows.candidates.fingerprints import legacy_settings_fingerprint
    from na_lattice_flows.md.jobs import MLPMDMaker

    def with_md(folder):
        return ScreeningFlowMaker(
            relax_maker=MLPRelaxMaker(),
            phonon_maker=None,
            md_maker=MLPMDMaker(trajectory_dir=str(folder)),
        )

    here, there = with_md(tmp_path / "a"), with_md(tmp_path / "b")
    assert settings_fingerprint(here) == settings_fingerprint(there)
    # 0.1 hashed the folder
    assert legacy_settings_fingerprint(here) != legacy_settings_fingerprint(there)
    base, legacy = settings_fingerprint(here), legacy_settings_fingerprint(here)
    monkeypatch.setattr(MLPRelaxMaker, "__module__", "somewhere.else")  # as if the module had moved
    assert settings_fingerprint(here) == base
    assert legacy_settings_fingerprint(here) != legacy


@pytest.mark.parametrize("name", ["demo-NaCl", "demo-Na3PS4"])
def test_canonical_cell_round_trips_through_poscar_text(name):
    structure = {c.candidate_id: c for c in demo_candidates()}[name].structure
    assert same_crystal(structure, structure_identity(structure).canonical_cell)


def test_identities_over_a_process_pool_equal_the_serial_ones(pool):
    from na_lattice_flows.candidates.fingerprints import PARALLEL_FROM, structure_identities

    structures = [candidate.structure for candidate in pool.candidates[:PARALLEL_FROM]]
    identities = structure_identities(structures, processes=2)
    # the pool starts on the last chunks while this process takes the first
    first = next(identities)
    # long enough for the pool (one process) to start and finish chunks this process then does not redo
    time.sleep(4)
    assert [first, *identities] == [structure_identity(structure) for structure in structures]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"phonons": False},
        {"md": False},
        {"md": True, "md_engine": "torchsim", "model": "7net-0", "md_temperatures": (600, 800)},
        {"elastic": True, "third_order": "symfc"},
        {"relax_engine": "gpaw"},
        {"relax_engine": "vasp"},
    ],
)
def test_screening_flows_reference_only_their_own_jobs(options, tmp_path):
    """Campaign submission skips jobflow's per-flow reference check (``check_references=False``): every flow the
    submit options can build is checked here instead."""
    from jobflow.core.flow import get_flow

    from na_lattice_flows.api import screening_maker

    rock_salt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    candidate = Candidate(candidate_id="NaCl", structure=rock_salt, source="test")
    maker = screening_maker(trajectory_dir=str(tmp_path), **options)
    flow = maker.make(candidate)
    assert get_flow(flow) is flow  # raises ValueError naming any job outside the flow
    outside = MLPRelaxMaker().make(rock_salt)
    with pytest.raises(ValueError, match="not found in the jobs array"):
        get_flow(Flow([maker.make(candidate), pass_on(outside.output.structure)]))


@job
def pass_on(structure):
    return structure
