"""The relaxation document records where a trained model came from, as every other document that used it does."""

from __future__ import annotations

import json
import shutil

import pytest
from jobflow import run_locally
from pymatgen.core import Lattice, Structure


def test_the_relaxation_document_carries_the_trained_models_provenance(tmp_path):
    from sevenn.util import pretrained_name_to_path

    from na_lattice_flows.models import PROVENANCE_SUFFIX
    from na_lattice_flows.relax.jobs import MLPRelaxMaker, relaxation_outcome

    checkpoint = tmp_path / "checkpoint_best.pth"
    # stands in for a fine-tuned checkpoint
    shutil.copy(pretrained_name_to_path("7net-0"), checkpoint)
    provenance = {"route": "sevennet", "dataset": "nacl test", "test_force_rmse_meV_per_A": 11.4}
    (tmp_path / f"checkpoint_best.pth{PROVENANCE_SUFFIX}").write_text(json.dumps(provenance))
    rock_salt = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.5), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()
    outputs = {}
    for model in (f"sevennet:{checkpoint}", "7net-0"):
        relax = MLPRelaxMaker(model=model, steps=50).make(rock_salt)
        responses = run_locally(
            relax,
            create_folders=True,
            root_dir=tmp_path / model.replace(":", "_").replace("/", "_"),
            ensure_success=True,
        )
        outputs[model] = responses[relax.uuid][1].output
    trained, pretrained = outputs[f"sevennet:{checkpoint}"], outputs["7net-0"]
    assert trained.model_provenance == provenance and pretrained.model_provenance is None
    # the same weights: the same relaxed cell, read by the screening's reader
    assert relaxation_outcome(trained).structure.volume == pytest.approx(
        relaxation_outcome(pretrained).structure.volume, rel=1e-6
    )
    assert trained.structure.lattice.a != pytest.approx(5.5 / 2**0.5, rel=1e-4)  # it did relax
