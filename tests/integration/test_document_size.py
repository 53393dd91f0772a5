"""No stored document nears MongoDB's 16 MB limit: the outputs of the largest case the presets produce go through
jobflow's own save path (the real jobs' `data` declarations), and what stays in the docs store is small.

Sizes: unit cells up to the screen's default 200 sites, their paper supercells (the pool's largest product
n_primitive x n_supercell sets the force constants), the paper MD preset (10 001 frames), a torch-sim batch of 16."""

from __future__ import annotations

import bson
import numpy as np
import pytest
from monty.json import jsanitize
from phonopy.phonon.grid import length2mesh
from pymatgen.core import Structure

from na_lattice_flows.candidates.screen import ScreeningCriteria
from na_lattice_flows.execution.stores import get_job_store
from na_lattice_flows.md.jobs import mlp_md, mlp_md_batch
from na_lattice_flows.md.schemas import MDBatchDocument, MDDocument
from na_lattice_flows.md.settings import md_settings
from na_lattice_flows.md.trajectory import MDTrajectory
from na_lattice_flows.md.transport import analyze_trajectory
from na_lattice_flows.phonons.descriptors import ModeData, PhononDescriptors
from na_lattice_flows.phonons.jobs import mlp_phonons
from na_lattice_flows.phonons.schemas import PhononDocument
from na_lattice_flows.structure.supercells import paper_supercell

DOC_LIMIT = 16 * 1024**2
SMALL = 1024**2  # what we allow a docs-store document: 1/16 of the limit


def inline_size(document) -> int:
    """Bytes of ``document`` as one BSON document, as jobflow would store it without a data store."""
    return len(
        bson.BSON.encode(
            {"output": jsanitize(document, strict=True, enum_values=True, allow_bson=True)}
        )
    )


def stored_through_jobflow(store, job, document) -> tuple[dict, int]:
    """Run ``job`` (a real job of this package) with its computation replaced by ``document``: jobflow saves the
    output exactly as on a worker. Returns the docs-store document and the number of data-store entries."""
    job.function = lambda *args, **kwargs: document
    job.run(store)
    stored = store.docs_store.query_one({"uuid": job.uuid})
    return stored, store.additional_stores["data"].count()


@pytest.fixture
def store(embedded_settings):
    job_store = get_job_store(embedded_settings)
    job_store.connect()
    yield job_store
    job_store.close()


@pytest.fixture(scope="module")
def largest_fc_case(pool) -> tuple[Structure, int]:
    """The screened structure whose compact force constants (n_primitive x n_supercell) are largest."""
    max_sites = ScreeningCriteria().max_sites
    cases = [
        (len(c.structure) * paper_supercell(c.structure).n_atoms, c.structure)
        for c in pool.candidates
        if len(c.structure) <= max_sites
    ]
    _, structure = max(cases, key=lambda case: case[0])
    return structure, paper_supercell(structure).n_atoms


def paper_md_document(rng) -> MDDocument:
    """An MD document with real transport-analysis curves for a run of the paper preset's length (4 elements)."""
    settings = md_settings("paper")
    counts = {"Na": 12, "P": 4, "S": 16, "O": 4}
    species = [element for element, n in counts.items() for _ in range(n)]
    steps = rng.normal(0, 0.05, size=(settings.n_frames, len(species), 3))
    steps[:, counts["Na"] :] *= 0.1
    positions = np.cumsum(steps, axis=0)
    trajectory = MDTrajectory(
        species=species,
        positions=positions,
        cell=np.eye(3) * 12.0,
        temperature_K=800.0,
        frame_interval_fs=settings.timestep_fs * settings.frame_interval_steps,
        velocities=np.gradient(positions, axis=0)
        / (settings.timestep_fs * settings.frame_interval_steps),
    )
    analysis, curves = analyze_trajectory(trajectory, use_kinisi=False)
    return MDDocument(
        candidate_id="x",
        formula="Na3PS4",
        model="7net-0",
        engine="ase",
        settings=settings,
        supercell_matrix=np.eye(3, dtype=int).tolist(),
        n_atoms=len(species),
        trajectory_path="x.h5",
        analysis=analysis,
        curves=curves,
    )


def test_largest_force_constants_go_to_the_data_store(store, largest_fc_case):
    structure, n_supercell = largest_fc_case
    n_primitive, rng = len(structure), np.random.default_rng(0)
    # the descriptors' full Gamma-centred mesh
    n_q = int(np.prod(length2mesh(30.0, structure.lattice.matrix)))
    bands = 3 * n_primitive
    per_mode = lambda: rng.random((n_q, bands)).tolist()  # noqa: E731
    document = PhononDocument.model_construct(
        candidate_id="largest",
        formula=structure.composition.reduced_formula,
        model="7net-0",
        fc_method="symfc",
        supercell_matrix=paper_supercell(structure).supercell_matrix,
        n_supercells=30,
        amplitude_A=0.03,
        descriptors=PhononDescriptors.model_construct(
            msd_per_site_A2=rng.random((n_primitive, 3)).tolist(), site_species=["Na"] * n_primitive
        ),
        force_constants=rng.random((n_primitive, n_supercell, 3, 3)).tolist(),
        mode_data=ModeData(
            frequencies_thz=per_mode(),
            weights=[1 / n_q] * n_q,
            na_msd_A2=per_mode(),
            participation_ratio=per_mode(),
            na_host_coupling=per_mode(),
            na_weight=per_mode(),
        ),
    )
    job = mlp_phonons(structure, "largest", "7net-0", 30, 0.03, 0, "symfc", 800.0, 1.5, 80)
    full_size = inline_size(document)
    stored, n_data = stored_through_jobflow(store, job, document)
    # inline, this output alone would take more than a third of the limit
    assert full_size > 4 * SMALL
    assert len(bson.BSON.encode(stored)) < SMALL and n_data == 2  # force constants and mode data
    loaded = store.query_one({"uuid": job.uuid}, load=True)["output"]
    assert np.asarray(loaded["force_constants"]).shape == (n_primitive, n_supercell, 3, 3)


@pytest.mark.slow  # 29 s; the data store's routing of big arrays is checked in the default run by the force-constant test above
def test_paper_preset_md_and_a_batch_of_sixteen_keep_their_curves_in_the_data_store(store):
    document = paper_md_document(np.random.default_rng(1))
    assert len(document.curves["times_ps"]) == md_settings("paper").n_frames
    single = mlp_md(None, "x", "7net-0", md_settings("paper"), "t")
    stored, n_data = stored_through_jobflow(store, single, document)
    assert len(bson.BSON.encode(stored)) < SMALL / 10 and n_data == 1

    batch = mlp_md_batch([None] * 16, ["x"] * 16, "7net-0", [md_settings("paper")] * 16, "t")
    batch_document = MDBatchDocument(runs=[document] * 16)
    full_size = inline_size(batch_document)
    stored, n_data = stored_through_jobflow(store, batch, batch_document)
    assert full_size > DOC_LIMIT / 4
    assert len(bson.BSON.encode(stored)) < SMALL and n_data == 1 + 16
    loaded = store.query_one({"uuid": batch.uuid}, load=True)["output"]
    assert len(loaded["runs"][15]["curves"]["times_ps"]) == md_settings("paper").n_frames


def test_third_order_is_refused_up_front_where_its_force_constants_cannot_be_held(largest_fc_case):
    from na_lattice_flows.phonons.jobs import check_third_order_size

    structure, n_supercell = largest_fc_case
    with pytest.raises(
        ValueError, match=rf"largest: third-order force constants of a {n_supercell}-atom supercell"
    ):
        check_third_order_size(len(structure), n_supercell, "largest")
    check_third_order_size(8, 216, "rock salt")  # 0.08 GiB: fine
