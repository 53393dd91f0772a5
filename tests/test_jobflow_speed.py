"""The jobflow shortcuts (``execution.jobflow_speed``) answer as jobflow's own code does: the same references, jobs and
flow graphs, only without serialising pymatgen structures."""

from __future__ import annotations

import numpy as np
from jobflow import Flow, job
from jobflow.core import reference
from jobflow.utils import find
from pymatgen.core import Lattice, Structure

from na_lattice_flows.execution.jobflow_speed import install

assert install(), "the shortcuts are tested on the jobflow this repository locks"


@job
def relax_like(structure, scale=1.0):
    return structure


@job
def summary_like(structure, relaxed, label):
    return label


def rock_salt() -> Structure:
    return Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_shortcuts_answer_as_jobflows_walk():
    assert reference.find_and_get_references.skips_inert and find.contains_flow_or_job.skips_inert
    walk_references, walk_contains = (
        reference.find_and_get_references.__wrapped__,
        find.contains_flow_or_job.__wrapped__,
    )
    relaxed = relax_like(rock_salt())
    # an object array is searched
    holding_a_reference = np.array([relaxed.output, 1.0], dtype=object)
    assert reference.find_and_get_references(holding_a_reference) == (relaxed.output,)
    for value in (
        rock_salt(),
        rock_salt().lattice,
        rock_salt().composition,
        np.eye(3),
        [rock_salt(), relaxed.output],
        (rock_salt(), {"s": relaxed.output}),
        {"structure": rock_salt()},
        relaxed.output,
        "text",
    ):
        assert set(reference.find_and_get_references(value)) == set(walk_references(value)), type(
            value
        )
    for value in (
        rock_salt(),
        (rock_salt(), relaxed),
        [rock_salt(), 1.0],
        (rock_salt(), [relaxed]),
    ):
        assert find.contains_flow_or_job(value) == walk_contains(value)
    assert find.contains_flow_or_job((rock_salt(), relaxed)) is True


def test_a_flows_graph_and_order_are_unchanged(monkeypatch):
    def build():
        relaxed = relax_like(rock_salt())
        summary = summary_like(rock_salt(), relaxed.output, "x")
        flow = Flow([summary, relaxed])
        return (
            [(a, b) for a, b in flow.graph.edges],
            [job.uuid for job, _ in flow.iterflow()],
            relaxed,
            summary,
        )

    edges, order, relaxed, summary = build()
    assert edges == [(relaxed.uuid, summary.uuid)] and order == [relaxed.uuid, summary.uuid]
    for module, name in ((reference, "find_and_get_references"), (find, "contains_flow_or_job")):
        monkeypatch.setattr(module, name, getattr(module, name).__wrapped__)
    from jobflow.core import flow as flow_module

    monkeypatch.setattr(flow_module, "find_and_get_references", reference.find_and_get_references)
    slow_edges, slow_order, slow_relaxed, slow_summary = build()  # jobflow's own walk
    assert slow_edges == [(slow_relaxed.uuid, slow_summary.uuid)] and slow_order == [
        slow_relaxed.uuid,
        slow_summary.uuid,
    ]
