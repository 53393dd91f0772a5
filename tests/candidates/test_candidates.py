"""Loading candidates: every source, and bad input named with its problem while the rest goes on."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from na_lattice_flows.candidates.loaders import (
    CandidateInputError,
    load_candidates,
    load_csv,
    load_folder,
    load_json,
)


def nacl() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_pool_csv_loads_every_row_with_its_properties(pool, pool_csv):
    import pandas as pd

    table = pd.read_csv(pool_csv)
    assert len(pool.candidates) == len(table) == 1079
    assert pool.rejections == []
    by_id = {c.candidate_id: c for c in pool.candidates}
    for _, row in table.sample(25, random_state=0).iterrows():
        candidate = by_id[row["material_id"]]
        assert candidate.band_gap_eV == pytest.approx(row["gap_pbe_eV_MP2018"])
        assert candidate.formation_energy_eV_per_atom == pytest.approx(
            row["e_form_eV_per_atom_MP2018"]
        )
        # the POSCAR parsed into the composition the table states
        assert (
            candidate.structure.composition.reduced_composition
            == Structure.from_str(
                row["poscar_unitcell_phonondb"], fmt="poscar"
            ).composition.reduced_composition
        )
        assert "Na" in candidate.structure.composition


def test_csv_bad_row_is_rejected_by_id_and_others_load(tmp_path):
    path = tmp_path / "table.csv"
    good = nacl().to(fmt="poscar")
    path.write_text(
        "material_id,poscar,band_gap,formation_energy_per_atom\n"
        f'good-1,"{good}",5.0,-2.0\n'
        'broken-2,"this is not a POSCAR",1.0,-1.0\n'
    )
    loaded = load_csv(path)
    assert [c.candidate_id for c in loaded.candidates] == ["good-1"]
    assert loaded.candidates[0].band_gap_eV == 5.0
    [rejection] = loaded.rejections
    assert rejection.candidate_id == "broken-2"
    assert rejection.source == f"{path}:3"
    assert "unreadable row" in rejection.reason


def test_csv_without_structure_column_names_file_and_columns(tmp_path):
    path = tmp_path / "no_structures.csv"
    path.write_text("material_id,band_gap\nx,1.0\n")
    with pytest.raises(
        CandidateInputError,
        match=r"no_structures\.csv: no structure column.*found material_id, band_gap",
    ):
        load_csv(path)


def test_folder_loads_cif_and_poscar_and_names_the_unreadable_file(tmp_path):
    nacl().to(filename=str(tmp_path / "nacl.cif"))
    nacl().to(filename=str(tmp_path / "POSCAR"), fmt="poscar")
    (tmp_path / "broken.cif").write_text("data_broken\n_cell_length_a oops\n")
    (tmp_path / "notes.txt").write_text("not a structure, listed as skipped")
    loaded = load_folder(tmp_path)
    assert sorted(c.candidate_id for c in loaded.candidates) == ["POSCAR", "nacl"]
    [rejection] = loaded.rejections
    assert rejection.source == str(tmp_path / "broken.cif")
    assert rejection.reason.startswith("could not parse the CIF")
    assert loaded.notes == [f"skipped {tmp_path / 'notes.txt'} (not an input type this reads)"]


def test_empty_folder_and_missing_path_are_clear_errors(tmp_path):
    with pytest.raises(CandidateInputError, match="no input files"):
        load_folder(tmp_path)
    with pytest.raises(CandidateInputError, match="missing.cif: no such file"):
        load_candidates([tmp_path / "missing.cif"])
    with pytest.raises(CandidateInputError, match="no input given"):
        load_candidates([])


def test_json_list_plain_and_wrapped_entries_and_a_bad_one(tmp_path):
    path = tmp_path / "structures.json"
    path.write_text(
        json.dumps(
            [
                nacl().as_dict(),
                {"candidate_id": "wrapped", "structure": nacl().as_dict(), "band_gap_eV": 4.2},
                {"lattice": "nonsense"},
            ]
        )
    )
    loaded = load_json(path)
    assert [c.candidate_id for c in loaded.candidates] == ["structures-0", "wrapped"]
    assert loaded.candidates[1].band_gap_eV == 4.2
    [rejection] = loaded.rejections
    assert rejection.source == f"{path}[2]"


def test_invalid_json_is_an_input_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(CandidateInputError, match="bad.json: not valid JSON"):
        load_json(path)
    [rejection] = load_candidates([path]).rejections  # among other inputs, it is one rejection
    assert rejection.reason.startswith("unreadable file: not valid JSON")


def test_a_garbage_or_empty_cif_is_refused_with_a_reason_that_says_what_it_is(tmp_path):
    (tmp_path / "garbage.cif").write_text("this is not a cif\n1 2 3\n")
    (tmp_path / "empty.cif").write_text("")
    nacl().to(filename=str(tmp_path / "nacl.cif"))
    reasons = {r.candidate_id: r.reason for r in load_folder(tmp_path).rejections}
    assert reasons == {
        "garbage": "could not parse the CIF: no data_ block (not a CIF file)",
        "empty": "could not parse the CIF: the file is empty",
    }
