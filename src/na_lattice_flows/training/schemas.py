"""Output documents of the training flows: a labelled dataset with independent splits, and a trained model with
its curves and held-out errors."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from na_lattice_flows.benchmark.frames import FrameBenchmark
from na_lattice_flows.errors import InputError, MissingInputError
from na_lattice_flows.training.dataset import SPLITS


class DatasetDocument(BaseModel):
    """A labelled training set: its splits on disk (train/val/test extended XYZ) and in the data store."""

    name: str
    folder: str
    split_paths: dict[str, str]
    n_frames: dict[str, int]
    groups: dict[str, list[str]] = Field(
        description="The configurations (or runs) in each split: disjoint"
    )
    group_by: str
    elements: list[str]
    labellers: list[str]
    extxyz: str = Field(
        "",
        description="Every labelled frame with its provenance (data store); empty for a dataset "
        "read from a folder, whose files are the record",
    )

    @classmethod
    def from_folder(
        cls, folder: str | Path, name: str | None = None, group_by: str = "configuration"
    ) -> DatasetDocument:
        """A dataset written earlier (or by hand): ``train.extxyz``, ``val.extxyz`` and ``test.extxyz`` in
        ``folder``, each frame with energy and forces (and stress), grouped by the ``group_by`` info key where
        frames carry it. Refuses a folder whose splits share a group: its test set would not be independent."""
        from ase.io import read

        folder = Path(folder).resolve()
        paths = {
            split: folder / f"{split}.extxyz"
            for split in SPLITS
            if (folder / f"{split}.extxyz").is_file()
        }
        missing = [split for split in ("train", "val") if split not in paths]
        if missing:
            raise MissingInputError(
                f"{folder}: no {', '.join(s + '.extxyz' for s in missing)} (a dataset folder has train/val/test.extxyz)"
            )
        frames = {}
        for split, path in paths.items():
            try:
                frames[split] = read(path, ":")
            except (
                Exception
            ) as exc:  # ASE raises several kinds on a bad file: name the file and the reason
                raise InputError(
                    f"{path}: not a readable extended XYZ file of labelled frames ({exc})"
                ) from exc
        groups = {
            split: sorted(
                {str(a.info.get(group_by, f"{split} (no {group_by} given)")) for a in atoms}
            )
            for split, atoms in frames.items()
        }
        shared = {
            g for s in groups for t in groups if s < t for g in set(groups[s]) & set(groups[t])
        }
        if shared:
            raise InputError(
                f"{folder}: {group_by} {', '.join(sorted(shared))} appear(s) in more than one split; the test set must be independent"
            )
        every = [atoms for split in frames.values() for atoms in split]
        return cls(
            name=name or folder.name,
            folder=str(folder),
            split_paths={s: str(p) for s, p in paths.items()},
            n_frames={s: len(a) for s, a in frames.items()},
            groups=groups,
            group_by=group_by,
            elements=sorted({e for atoms in every for e in atoms.get_chemical_symbols()}),
            labellers=sorted({str(atoms.info.get("labeller", "unknown")) for atoms in every}),
        )


class TrainedModelDocument(BaseModel):
    """A trained force field: its registry name, how it was made, its curves and its held-out errors beside the
    pretrained models'."""

    model: str = Field(description="Registry name, e.g. allegro:/abs/path/model.nequip.zip")
    route: str
    dataset: str
    dataset_folder: str
    n_frames: dict[str, int]
    settings: dict
    curves: dict[str, list[float | None]] = Field(
        description="Per-epoch loss and validation RMSEs (data store)"
    )
    test: FrameBenchmark = Field(description="Trained and baseline models on the test split")
    seconds: float
    resumed: bool = False
