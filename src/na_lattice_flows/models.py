"""Machine-learned interatomic potentials by name: an ASE calculator (and the torch-sim model where one exists),
on CUDA when present, loaded once per worker process.

Names (case-insensitive):
- ``chgnet`` (0.3.0), ``chgnet-0.2.0``, ``chgnet-r2scan`` (weights in CHGNet's package), ``chgnet:/path.pth.tar``
- ``chgnet-na``: CHGNet fine-tuned here on phononDB's PBEsol force sets (``training.chgnet``; file in this package)
- ``7net-0``, ``7net-l3i5``, ``7net-mf-0`` (SevenNet-MF-0's PBE head), ``7net-mf-0:r2scan`` (weights in SevenNet's)
- ``uma-s-1p1``, ``uma-m-1p1``, ``uma`` (= uma-s-1p1): fairchem UMA, task ``omat``; weights are gated on their hub
- ``fairchem:/path/to/checkpoint.pt`` (or any path ending in ``.pt``): a fairchem inference checkpoint
- ``mace-mp-0``, ``mace-mpa-0``, ``mace:/path/to/model``: MACE (its own environment: see README)
- ``mattersim`` (= MatterSim-v1.0.0-5M), ``mattersim:/path/to/model.pth``
- ``orb-v3`` (= orb-v3-conservative-inf-omat), ``orb:NAME``
- ``allegro:/path/model.nequip.zip`` (or ``nequip:``): a NequIP-framework model (Allegro, NequIP) as packaged by
  ``nequip-package`` (loads on CPU or GPU) or a checkpoint (``.ckpt``); a ``.nequip.pt2`` compiled for this
  device by ``nequip-compile --mode aotinductor --target ase`` loads as compiled
- ``sevennet:/path/checkpoint.pth``: a SevenNet checkpoint (e.g. fine-tuned here)

A model file trained by this product has its training provenance beside it (``<file>.provenance.json``).
A model that cannot be loaded raises ``ModelUnavailableError`` saying how to provide it; there is never a
silent fallback to another model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from na_lattice_flows.errors import InputError

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator


class UnknownModelError(InputError):
    """The name is not one this registry knows."""


class ModelUnavailableError(RuntimeError):
    """A known model that cannot be loaded here (package or weights missing)."""


@dataclass(frozen=True)
class ModelSpec:
    """What a model name resolves to: the family (package) and the variant (weights name or file)."""

    name: str
    family: str
    variant: str | None = None
    head: str | None = None  # the output head of a multi-fidelity model (SevenNet's "modal")


# trained here, ships with this package
CHGNET_NA_FILE = Path(__file__).parent / "weights" / "chgnet-na.pth.tar"

NAMED_MODELS: dict[str, ModelSpec] = {
    "chgnet": ModelSpec("chgnet", "chgnet"),
    "chgnet-0.2.0": ModelSpec("chgnet-0.2.0", "chgnet", "0.2.0"),
    "chgnet-r2scan": ModelSpec("chgnet-r2scan", "chgnet", "r2scan"),
    "chgnet-na": ModelSpec("chgnet-na", "chgnet", str(CHGNET_NA_FILE)),
    "7net-0": ModelSpec("7net-0", "sevennet", "7net-0"),
    "7net-l3i5": ModelSpec("7net-l3i5", "sevennet", "7net-l3i5"),
    "7net-mf-0": ModelSpec("7net-mf-0", "sevennet", "7net-mf-0", head="PBE"),
    "7net-mf-0:r2scan": ModelSpec("7net-mf-0:r2scan", "sevennet", "7net-mf-0", head="R2SCAN"),
    "uma": ModelSpec("uma-s-1p1", "fairchem", "uma-s-1p1"),
    "uma-s-1p1": ModelSpec("uma-s-1p1", "fairchem", "uma-s-1p1"),
    "uma-m-1p1": ModelSpec("uma-m-1p1", "fairchem", "uma-m-1p1"),
    "mace-mp-0": ModelSpec("mace-mp-0", "mace", "medium"),
    "mace-mpa-0": ModelSpec("mace-mpa-0", "mace", "medium-mpa-0"),
    "mattersim": ModelSpec("mattersim", "mattersim", "MatterSim-v1.0.0-5M.pth"),
    "orb-v3": ModelSpec("orb-v3", "orb", "orb-v3-conservative-inf-omat"),
}
# weights inside an installed package (no download, no gate): what benchmarks/model_selection.py measures
PACKAGED_MODELS = (
    "chgnet",
    "chgnet-0.2.0",
    "chgnet-r2scan",
    "7net-0",
    "7net-l3i5",
    "7net-mf-0",
    "7net-mf-0:r2scan",
)
FAMILY_PREFIXES = (
    "fairchem",
    "mace",
    "mattersim",
    "orb",
    "sevennet",
    "chgnet",
    "allegro",
    "nequip",
)
UMA_TASK = "omat"  # the inorganic-materials head of UMA, the one trained on PBE/PBE+U bulk data


def resolve_model(name: str) -> ModelSpec:
    """The ``ModelSpec`` for a registry name, ``family:variant`` or checkpoint path."""
    key = name.strip()
    if key.lower() in NAMED_MODELS:
        return NAMED_MODELS[key.lower()]
    family, sep, variant = key.partition(":")
    if sep and family.lower() in FAMILY_PREFIXES and variant:
        if _looks_like_path(variant) and not Path(variant).exists():
            raise UnknownModelError(
                f"model {name!r}: no such checkpoint file {variant} (give a path every worker can read)"
            )
        return ModelSpec(key, family.lower(), variant)
    if key.endswith(".pt") and Path(key).is_file():
        return ModelSpec(key, "fairchem", key)
    raise UnknownModelError(
        f"unknown model {name!r}: use one of {', '.join(sorted(NAMED_MODELS))}, "
        f"or FAMILY:VARIANT with FAMILY in {', '.join(FAMILY_PREFIXES)} (e.g. fairchem:/path/to/checkpoint.pt)"
    )


def _looks_like_path(variant: str) -> bool:
    """A checkpoint given as a file (a folder in it, or a weights suffix), not a model name of the family."""
    return "/" in variant or variant.endswith((".pt", ".pth", ".model", ".ckpt", ".zip", ".pt2"))


PROVENANCE_SUFFIX = ".provenance.json"


def model_provenance(name: str) -> dict | None:
    """The training provenance written beside a model file trained here (dataset, splits, settings, test
    errors); None for a pretrained or foreign model, or a label that is not a registry name."""
    import json

    try:
        spec = resolve_model(name)
    except UnknownModelError:
        return None
    if not spec.variant or not _looks_like_path(spec.variant):
        return None
    sidecar = Path(spec.variant + PROVENANCE_SUFFIX)
    return json.loads(sidecar.read_text()) if sidecar.is_file() else None


def default_device() -> str:
    """CUDA when a GPU is visible, else CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def get_calculator(name: str, device: str | None = None) -> Calculator:
    """The ASE calculator for ``name``; cached, so each worker process loads a model once."""
    return _cached_calculator(resolve_model(name), device or default_device())


@functools.cache
def _cached_calculator(spec: ModelSpec, device: str) -> Calculator:
    loader = _CALCULATOR_LOADERS[spec.family]
    return loader(spec, device)


TORCHSIM_FAMILIES = ("sevennet", "fairchem")  # the families get_torchsim_model can wrap


def get_torchsim_model(name: str, device: str | None = None) -> Any:
    """The torch-sim ``ModelInterface`` for ``name`` (for batched MD on one GPU); cached per process."""
    return _cached_torchsim_model(resolve_model(name), device or default_device())


@functools.cache
def _cached_torchsim_model(spec: ModelSpec, device: str) -> Any:
    import torch

    if spec.family == "sevennet":
        from torch_sim.models.sevennet import SevenNetModel

        return SevenNetModel(spec.variant, modal=spec.head, device=device)
    if spec.family == "fairchem":
        from torch_sim.models.fairchem import FairChemModel

        checkpoint = _fairchem_checkpoint(spec)
        return FairChemModel(
            checkpoint, device=torch.device(device), task_name=UMA_TASK, compute_stress=True
        )
    raise ModelUnavailableError(
        f"{spec.name}: no torch-sim model wrapper is set up for the {spec.family} family here; "
        "use the ASE engine (one structure per process) or a SevenNet/fairchem model"
    )


CHGNET_PACKAGED_VERSIONS = ("0.2.0", "0.3.0", "r2scan")


def _load_chgnet(spec: ModelSpec, device: str) -> Calculator:
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    if spec.variant is None or spec.variant in CHGNET_PACKAGED_VERSIONS:
        model = CHGNet.load(model_name=spec.variant or "0.3.0", use_device=device, verbose=False)
    elif Path(spec.variant).is_file():
        model = CHGNet.from_file(spec.variant)
    else:
        hint = (
            "rebuild them with `na-flows train phonondb`"
            if spec.name == "chgnet-na"
            else "give chgnet:/path/to/model.pth.tar"
        )
        raise ModelUnavailableError(f"{spec.name}: no CHGNet weights at {spec.variant!r}; {hint}")
    return CHGNetCalculator(model=model, use_device=device)


def _load_sevennet(spec: ModelSpec, device: str) -> Calculator:
    from sevenn.calculator import SevenNetCalculator

    try:
        if spec.head is not None:
            return SevenNetCalculator(model=spec.variant, modal=spec.head, device=device)
        return SevenNetCalculator(model=spec.variant, device=device)
    except (ValueError, FileNotFoundError) as exc:
        raise ModelUnavailableError(
            f"{spec.name}: SevenNet could not load {spec.variant!r} ({exc}); "
            "use 7net-0, 7net-l3i5, or sevennet:/path/to/checkpoint.pth"
        ) from exc


def _fairchem_checkpoint(spec: ModelSpec) -> str:
    """A local checkpoint path for a fairchem spec: the file itself, or the hub download of a named model."""
    if Path(spec.variant).is_file():
        return spec.variant
    from fairchem.core.calculate.pretrained_mlip import (
        available_models,
        pretrained_checkpoint_path_from_name,
    )

    if spec.variant not in available_models:
        raise ModelUnavailableError(
            f"{spec.name}: no checkpoint file at {spec.variant!r} and not a fairchem model name "
            f"({', '.join(available_models)})"
        )
    try:
        return pretrained_checkpoint_path_from_name(spec.variant)
    except Exception as exc:  # noqa: BLE001 - any hub failure means: weights not available here
        raise ModelUnavailableError(
            f"{spec.name}: the UMA weights could not be fetched ({type(exc).__name__}). They are gated on the "
            "Hugging Face hub: accept the licence for facebook/UMA, log in (`huggingface-cli login`) on a machine "
            f"with network, or download {spec.variant}.pt and pass its path as fairchem:/path/to/{spec.variant}.pt"
        ) from exc


def _load_fairchem(spec: ModelSpec, device: str) -> Calculator:
    from fairchem.core import FAIRChemCalculator, pretrained_mlip

    predictor = pretrained_mlip.load_predict_unit(_fairchem_checkpoint(spec), device=device)
    return FAIRChemCalculator(predictor, task_name=UMA_TASK)


def _load_nequip(spec: ModelSpec, device: str) -> Calculator:
    from nequip.integrations.ase import NequIPCalculator

    path = Path(spec.variant)
    if not path.is_file():
        raise ModelUnavailableError(
            f"{spec.name}: no model file {spec.variant} (a .nequip.zip package, .ckpt or .nequip.pt2)"
        )
    import torch

    # loading sets torch's default dtype to float64 for the whole process, which breaks CHGNet and SevenNet
    # afterwards in the same worker ("expected m1 and m2 to have the same dtype"); the model runs either way
    default_dtype = torch.get_default_dtype()
    try:
        if path.name.endswith(".pt2"):
            return NequIPCalculator.from_compiled_model(str(path), device=device)
        # nequip's only loader of packaged/checkpoint models for ASE; eager mode runs on any device
        return NequIPCalculator._from_saved_model(str(path), device=device)
    finally:
        torch.set_default_dtype(default_dtype)


def _load_mace(spec: ModelSpec, device: str) -> Calculator:
    try:
        from mace.calculators import mace_mp
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{spec.name}: mace-torch is not installed. It cannot share this environment with fairchem-core "
            "(mace-torch pins e3nn==0.4.4, fairchem-core needs e3nn>=0.5): create a second environment with "
            "`pip install mace-torch` and this package, and run MACE jobs there"
        ) from exc
    try:
        return mace_mp(model=spec.variant, device=device, default_dtype="float64")
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailableError(
            f"{spec.name}: MACE weights {spec.variant!r} could not be loaded ({exc}); download the model file on a "
            "machine with network and pass mace:/path/to/model.model"
        ) from exc


def _load_mattersim(spec: ModelSpec, device: str) -> Calculator:
    try:
        from mattersim.forcefield import MatterSimCalculator
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{spec.name}: MatterSim is not installed: `pip install mattersim`"
        ) from exc
    try:
        return MatterSimCalculator(load_path=spec.variant, device=device)
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailableError(
            f"{spec.name}: MatterSim weights {spec.variant!r} could not be loaded ({exc}); download them on a "
            "machine with network and pass mattersim:/path/to/model.pth"
        ) from exc


def _load_orb(spec: ModelSpec, device: str) -> Calculator:
    try:
        from orb_models.forcefield import pretrained
        from orb_models.forcefield.calculator import ORBCalculator
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{spec.name}: ORB is not installed: `pip install orb-models`"
        ) from exc
    loader = pretrained.ORB_PRETRAINED_MODELS.get(spec.variant)
    if loader is None:
        raise ModelUnavailableError(
            f"{spec.name}: unknown ORB model; choose from {', '.join(pretrained.ORB_PRETRAINED_MODELS)}"
        )
    try:
        return ORBCalculator(loader(device=device), device=device)
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailableError(
            f"{spec.name}: ORB weights could not be loaded ({exc}); they download on first use and need network"
        ) from exc


_CALCULATOR_LOADERS = {
    "chgnet": _load_chgnet,
    "sevennet": _load_sevennet,
    "fairchem": _load_fairchem,
    "mace": _load_mace,
    "mattersim": _load_mattersim,
    "orb": _load_orb,
    "allegro": _load_nequip,
    "nequip": _load_nequip,
}
