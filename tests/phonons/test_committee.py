"""The stability committee: the dispute rule on known verdicts, two calculators that disagree on rock salt
(CHGNet and CHGNet with its forces reversed, which turns every curvature negative), and the screening flow
that records the dispute and its columns."""

from __future__ import annotations

import pytest
from ase.calculators.calculator import Calculator, all_changes
from jobflow import run_locally
from pymatgen.core import Lattice, Structure

from na_lattice_flows.phonons.committee import CommitteeMember, committee_verdict, member_verdict


def member(model: str, stable: bool, lowest: float) -> CommitteeMember:
    return CommitteeMember(model=model, dynamically_stable=stable, min_frequency_thz=lowest)


def test_disagreeing_verdicts_or_far_apart_frequencies_are_disputed():
    agree = committee_verdict([member("a", True, 0.0), member("b", True, -0.1)], margin_thz=0.5)
    assert not agree.disputed and agree.dispute is None
    verdicts = committee_verdict(
        [member("a", True, 0.0), member("b", False, -0.3), member("c", True, 0.0)], margin_thz=0.5
    )
    # within the margin, but the verdicts differ
    assert verdicts.disputed and verdicts.dispute == "stable by a, c; unstable by b"
    spread = committee_verdict([member("a", False, -1.4), member("b", False, -0.2)], margin_thz=0.5)
    # both unstable, but how unstable is disputed
    assert spread.disputed and "1.20 THz apart" in spread.dispute
    assert not committee_verdict(
        [member("a", False, -1.4), member("b", False, -0.2)], margin_thz=1.5
    ).disputed
    with pytest.raises(ValueError, match="two or more"):
        committee_verdict([member("a", True, 0.0)])


class Reversed(Calculator):
    """Another calculator's forces with their sign flipped: every force constant changes sign, so a crystal that
    is stable under the original is unstable under this one."""

    implemented_properties = ("energy", "forces")

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        copy = atoms.copy()
        copy.calc = self.inner
        self.results = {"energy": -copy.get_potential_energy(), "forces": -copy.get_forces()}


@pytest.fixture(scope="module")
def rock_salt():
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.70), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_two_calculators_that_disagree_are_a_dispute(rock_salt):
    from na_lattice_flows.models import get_calculator

    chgnet = get_calculator("chgnet")
    matrix = [[2, 0, 0], [0, 2, 0], [0, 0, 2]]  # 64 atoms
    stable = member_verdict(
        rock_salt, matrix, "chgnet", chgnet, n_supercells=3, amplitude_A=0.03, seed=0
    )
    unstable = member_verdict(
        rock_salt, matrix, "reversed", Reversed(chgnet), n_supercells=3, amplitude_A=0.03, seed=0
    )
    assert stable.dynamically_stable and stable.min_frequency_thz > -0.05
    assert not unstable.dynamically_stable and unstable.min_frequency_thz < -1.0
    # reversed forces give exactly the negated force constants: the same |frequencies|, each made imaginary
    verdict = committee_verdict([stable, unstable])
    assert verdict.disputed and verdict.dispute == "stable by chgnet; unstable by reversed"


def test_the_screening_flow_records_the_dispute(rock_salt, monkeypatch):
    """The committee job runs on the screen's relaxed cell; the summary compares it with the screen's own phonons;
    the results columns say disputed, why, and each model's verdict. A committee model that fails is named and
    leaves the others."""
    from na_lattice_flows.candidates.loaders import Candidate
    from na_lattice_flows.execution.results import committee_columns
    from na_lattice_flows.models import get_calculator
    from na_lattice_flows.phonons import jobs
    from na_lattice_flows.phonons.jobs import CommitteeMaker, MLPPhononMaker
    from na_lattice_flows.relax.jobs import MLPRelaxMaker
    from na_lattice_flows.workflow.screening import ScreeningFlowMaker

    def committee_calculator(name):
        if name == "7net-l3i5":
            raise RuntimeError("weights missing here")
        # "7net-0" stands for a model that calls rock salt unstable
        return Reversed(get_calculator("chgnet"))

    monkeypatch.setattr(
        jobs,
        "get_calculator",
        lambda name: get_calculator(name) if name == "chgnet" else committee_calculator(name),
    )
    maker = ScreeningFlowMaker(
        relax_maker=MLPRelaxMaker(model="chgnet"),
        phonon_maker=MLPPhononMaker(model="chgnet", n_supercells=3, min_supercell_atoms=60),
        md_maker=None,
        min_supercell_atoms=60,
        committee_maker=CommitteeMaker(
            models=("7net-0", "7net-l3i5"), n_supercells=3, min_supercell_atoms=60
        ),
    )
    candidate = Candidate(candidate_id="NaCl", structure=rock_salt, source="test")
    flow = maker.make(candidate)
    assert maker.provenance().committee_models == "7net-0, 7net-l3i5"
    responses = run_locally(flow, ensure_success=True, log=False)
    summary = responses[flow.output.uuid][1].output
    committee = summary.committee
    assert [m.model for m in committee.members] == [
        "chgnet",
        "7net-0",
    ]  # the failed model is left out ...
    committee_job = next(j for j in flow.jobs if j.name.startswith("committee phonons"))
    # ... and named
    assert "weights missing here" in responses[committee_job.uuid][1].output["errors"]["7net-l3i5"]
    assert summary.phonons.dynamically_stable and committee.disputed
    columns = committee_columns(committee.model_dump())
    assert (
        columns["disputed"] is True and columns["dispute"] == "stable by chgnet; unstable by 7net-0"
    )
    assert (
        columns["committee_verdicts"].startswith("chgnet: stable")
        and "7net-0: unstable" in columns["committee_verdicts"]
    )


def test_without_a_committee_the_settings_fingerprint_is_the_previous_releases():
    """committee_maker is new: unset, it must not change the fingerprints that earlier campaigns were stored under
    (resubmission would otherwise duplicate them); set, it is new work."""
    from na_lattice_flows.candidates.fingerprints import settings_fingerprint
    from na_lattice_flows.phonons.jobs import CommitteeMaker
    from na_lattice_flows.workflow.screening import ScreeningFlowMaker

    plain = ScreeningFlowMaker()
    described = plain.as_dict()
    assert "committee_maker" in described  # jobflow serialises it ...
    described.pop("committee_maker")
    legacy = type("Legacy", (), {"as_dict": lambda self: described})()
    # ... the fingerprint leaves it out
    assert settings_fingerprint(plain) == settings_fingerprint(legacy)
    assert settings_fingerprint(
        ScreeningFlowMaker(committee_maker=CommitteeMaker(models=("7net-0",)))
    ) != settings_fingerprint(plain)
