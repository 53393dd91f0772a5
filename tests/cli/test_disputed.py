"""`results --disputed`, the report's disputed section and `validate submit --disputed`: the committee's
disputes reach the user and the DFT phonon step, on a results table and summaries whose disputes are known."""

from __future__ import annotations

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from synthetic_tables import synthetic_results

from na_lattice_flows.cli.app import main


def committee_table() -> pd.DataFrame:
    table = synthetic_results(4)
    # None: no committee judged it
    table["disputed"] = pd.Series([True, False, None, True], dtype=object)
    table["dispute"] = [
        "stable by chgnet; unstable by 7net-0",
        None,
        None,
        "lowest frequency -1.40 THz ...",
    ]
    table["committee_verdicts"] = [
        "chgnet: stable (0.00 THz); 7net-0: unstable (-0.80 THz)",
        "both stable",
        None,
        "...",
    ]
    return table


def test_results_disputed_lists_only_the_disputed_with_each_models_verdict(
    embedded_settings, monkeypatch, capsys
):
    from na_lattice_flows.execution import results
    from na_lattice_flows.execution.stores import open_session

    with open_session(embedded_settings):
        pass  # an (empty) store: `results` refuses a folder without one
    monkeypatch.setattr(results, "results_table", lambda session: committee_table())
    assert main(["results", "--disputed", "--workdir", str(embedded_settings.workdir)]) == 0
    out = capsys.readouterr().out
    assert "syn-0" in out and "syn-3" in out and "syn-1" not in out and "syn-2" not in out
    assert "unstable by 7net-0" in out and "committee_verdicts" in out


def test_the_report_section_counts_the_disputed_among_the_judged():
    from na_lattice_flows.analysis.html import disputed_section

    section = disputed_section(committee_table())
    assert "2 of 3 structures judged by the committee are disputed" in section.body
    assert "syn-0" in section.body and "syn-1" not in section.body
    assert disputed_section(synthetic_results(3)) is None  # no committee: no section


def test_dft_phonons_of_the_disputed_are_one_reference_and_comparison_each():
    from na_lattice_flows.api import disputed_dft_phonons_flow, disputed_structures

    cell = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    summaries = {
        "a": {"relaxed_structure": cell.as_dict(), "committee": {"disputed": True}},
        "b": {"relaxed_structure": cell, "committee": {"disputed": False}},
        "c": {"relaxed_structure": cell},
    }
    assert list(disputed_structures(summaries)) == ["a"]
    flow = disputed_dft_phonons_flow(summaries, "gpaw", "chgnet")
    assert [job.name.split()[-1] for job in flow.jobs] == [
        "a",
        "a",
    ]  # the GPAW reference and the comparison of "a"
    with pytest.raises(ValueError, match="no disputed structure"):
        disputed_dft_phonons_flow({"b": summaries["b"]}, "gpaw", "chgnet")
