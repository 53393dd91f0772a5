"""The screening flow's options, declared once: ``api.screening_maker`` builds the Makers from them and the
command line makes its flags from them (name, type, range, choices, default and help), so that a new option or a
new default is one line here. The Makers' own defaults come from the same settings object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from na_lattice_flows.checks import validation_message
from na_lattice_flows.errors import InputError
from na_lattice_flows.md.settings import MD_PRESETS
from na_lattice_flows.settings import SETTINGS

RELAX_ENGINES = ("mlp", "gpaw", "vasp")
FC_METHODS = ("symfc", "hiphive", "pheasy")
STABILITY_CHOICES = ("harmonic", "finite-temperature")
MD_ENGINES = ("ase", "torchsim")


def _cli(flag: str | None = None, unit: str = "", **extra) -> dict:
    """What the command line needs beyond the field: its flag when not ``--field-name``, the unit of a range."""
    return {"flag": flag, "unit": unit, **extra}


class ScreeningOptions(BaseModel):
    """Everything a user chooses about a screening flow (not about which structures: ``ScreeningCriteria``)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        SETTINGS.default_model,
        description="MLP for relaxation, phonons and MD (a registry name, e.g. chgnet, 7net-0, "
        "fairchem:/path.pt)",
        json_schema_extra=_cli(kind="model"),
    )
    relax_engine: Literal[RELAX_ENGINES] = Field(
        "mlp",
        description="relaxation by the MLP, GPAW (local DFT) or VASP (atomate2 strict double relax through "
        "custodian; CPU workers)",
    )
    fmax: float = Field(
        0.01,
        gt=0,
        allow_inf_nan=False,
        description="relaxation force threshold, eV/A",
        json_schema_extra=_cli(unit="eV/A"),
    )
    relax_optimizer: Literal["FIRE", "BFGS", "LBFGS"] = Field(
        "FIRE",
        description="ASE optimizer of the MLP relaxation: FIRE (atomate2's; earlier campaigns' settings), BFGS "
        "or LBFGS (the same minimum in 2-2.6x fewer steps: benchmarks/relax_optimizers.py)",
    )
    phonons: bool = Field(
        True,
        description="stop each flow after the relaxation (no MD either, unless --md)",
        json_schema_extra=_cli("--no-phonons"),
    )
    phonon_supercells: int = Field(
        SETTINGS.phonon_supercells, ge=1, description="random-displacement supercells"
    )
    fc_method: Literal[FC_METHODS] = Field(SETTINGS.fc_method, description="force-constant fit")
    third_order: Literal[FC_METHODS] | None = Field(
        None, description="also fit third-order force constants with this method"
    )
    temperature_K: float = Field(
        SETTINGS.temperature_K,
        gt=0,
        allow_inf_nan=False,
        description="K, for the MSD descriptors (and the finite-temperature stability)",
        json_schema_extra=_cli("--temperature", unit="K"),
    )
    stability: Literal[STABILITY_CHOICES] = Field(
        "harmonic",
        description="harmonic: a structure with an imaginary mode at 0 K gets no MD (the study's screen); "
        "finite-temperature: such structures are judged again on their effective phonons at --temperature "
        "(self-consistent, with the MLP; ~10-20x a harmonic step, for those structures only), and described "
        "by them",
    )
    md: bool | None = Field(
        None,
        description="run MD; the default with phonons (only dynamically stable structures), needed with "
        "--no-phonons (then every structure gets MD). --no-md leaves it out",
    )
    md_preset: Literal[tuple(MD_PRESETS)] = Field(
        "paper",
        description="MD preset: paper (15 + 60 ps, GPU workers), campaign (2.1 + 10.05 ps, CPU), short "
        "(0.15 + 0.45 ps, the demo's)",
    )
    md_temperatures: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        [SETTINGS.temperature_K],
        min_length=1,
        description="K, comma-separated; two or more add an Arrhenius fit",
        json_schema_extra=_cli(unit="K", above=0),
    )
    md_production_steps: int | None = Field(
        None, ge=1, description="override the preset's production steps"
    )
    md_equilibration_steps: int | None = Field(
        None, ge=0, description="override the preset's equilibration steps"
    )
    md_overrides: dict = Field(
        default_factory=dict,
        description="any other MDSettings field (Python API)",
        json_schema_extra=_cli(kind="api-only"),
    )
    md_on_unstable: bool = Field(
        False,
        description="also run MD on the structures the screen calls dynamically unstable (known conductors "
        "as controls: a check of the gate); their phonon descriptors stay marked unstable",
    )
    md_engine: Literal[MD_ENGINES] = Field(
        "ase",
        description="ase: one run per job; torchsim: a structure's temperature series batched in one job "
        "(SevenNet/UMA models)",
    )
    trajectory_dir: Path | str | None = Field(
        None,
        description="where MD trajectories go (default: <workdir>/trajectories; shared by all workers)",
    )
    min_supercell_atoms: int = Field(
        SETTINGS.min_supercell_atoms, ge=1, description="paper supercell size, atoms"
    )
    vasp_functional: Literal["PBE", "PBEsol"] = Field(
        "PBE",
        description="functional of the VASP relaxation (PBEsol: phononDB's)",
        json_schema_extra=_cli(kind="api-only"),
    )
    elastic: bool = Field(
        False, description="add the elastic moduli (atomate2's elastic flow with the MLP)"
    )
    committee: list[str] = Field(
        default_factory=list,
        description="more force fields (comma-separated) judging each structure's stability on the same "
        "supercells; where they and --model disagree, the structure is 'disputed' (results --disputed)",
        json_schema_extra=_cli(metavar="MODELS"),
    )
    committee_margin_thz: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="lowest frequencies further apart than this are disputed too (default 0.5)",
        json_schema_extra=_cli(unit="THz"),
    )

    def md_step_overrides(self) -> dict:
        """``md_overrides`` with the two step counts the command line offers."""
        steps = {
            "n_production_steps": self.md_production_steps,
            "n_equilibration_steps": self.md_equilibration_steps,
        }
        return {**self.md_overrides, **{k: v for k, v in steps.items() if v is not None}}


def screening_options(options: ScreeningOptions | None = None, **fields) -> ScreeningOptions:
    """``options`` with ``fields`` changed, or the options of ``fields``, validated: a bad value is an
    ``InputError`` that names the field."""
    try:
        base = options.model_dump() if options is not None else {}
        return ScreeningOptions.model_validate({**base, **fields})
    except ValidationError as exc:
        raise InputError(f"screening options: {validation_message(exc)}") from None
