"""Every default the package uses, in one place, overridable by environment variables with the prefix
``NA_FLOWS_`` (``NA_FLOWS_DEFAULT_MODEL=7net-0``, ``NA_FLOWS_WORKDIR=/scratch/screen``), as atomate2's
``Atomate2Settings``.

The physics defaults (model, temperature, supercell size, symmetry tolerance) are read once, at import, into
``SETTINGS``, because they are the default values of Makers and functions. Where the stores and trajectories go
is read at each use (``get_settings()``), so that one process can address several work folders.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NaFlowsSettings(BaseSettings):
    """Every default of the package; environment variables ``NA_FLOWS_<FIELD>`` override them."""

    model_config = SettingsConfigDict(env_prefix="NA_FLOWS_", extra="ignore")

    default_model: str = Field(
        "7net-0",
        description="MLP registry name of every step of a campaign: the winner on stability verdicts (balanced "
        "accuracy against DFT on the validation materials of benchmarks/model_selection.py), speed breaking near-ties",
    )
    batched_model: str = Field(
        "7net-0",
        description="MLP of batched (torch-sim) phonon forces: needs a torch-sim wrapper, as SevenNet and UMA have",
    )
    doping_model: str = Field(
        "7net-0", description="MLP of the doped-electrolyte study (NPT, transport, harmonic check)"
    )
    temperature_K: float = Field(
        800.0, description="the paper's screening temperature: phonon MSD descriptors and MD"
    )
    min_supercell_atoms: int = Field(
        80, description="the paper's supercells: at least this many atoms, near-equal lengths"
    )
    phonon_supercells: int = Field(
        30,
        description="the paper's random-displacement supercells per structure (phonons and references)",
    )
    displacement_amplitude_A: float = Field(
        0.03, description="the paper's displacement of every atom in those supercells"
    )
    fc_method: str = Field(
        "symfc",
        description="force-constant fit: symfc (fastest; hiphive and pheasy agree within 0.1 THz)",
    )
    symprec_A: float = Field(
        0.1, description="space-group labels of the records and the structure fingerprints"
    )
    workdir: Path = Field(
        Path("na_flows_work"),
        description="embedded store, run folders and (by default) trajectories",
    )
    trajectory_dir: Path | None = Field(
        None,
        description="MD trajectories; default <workdir>/trajectories. Every worker must see it",
    )
    mongodb_uri: str | None = Field(
        None, description="a MongoDB to use instead of the embedded store"
    )
    database: str | None = Field(
        None, description="MongoDB database; default the URI's path, else na_lattice_flows"
    )
    mongodb_timeout_s: float = Field(
        10.0, gt=0, description="how long to wait for MongoDB before saying it is unreachable"
    )
    config: Path = Field(
        Path("launchpad") / "na_flows.yaml", description="YAML file with mongodb_uri (and database)"
    )

    def trajectory_folder(self, workdir: str | Path | None = None) -> Path:
        """Absolute folder for MD trajectories: ``trajectory_dir`` if set, else ``<workdir>/trajectories`` (the
        given work folder, else this settings' one), resolved against the current folder now, at submission."""
        folder = self.trajectory_dir or Path(workdir or self.workdir) / "trajectories"
        return Path(folder).resolve()


def trajectory_folder(given: str | Path | None = None, workdir: str | Path | None = None) -> Path:
    """The MD trajectory folder a Maker records: ``given`` when a user chose one, else the settings' default
    for ``workdir`` (see ``NaFlowsSettings.trajectory_folder``); absolute either way."""
    return Path(given).resolve() if given else get_settings().trajectory_folder(workdir)


def get_settings() -> NaFlowsSettings:
    """The settings as the environment says now."""
    return NaFlowsSettings()


SETTINGS = get_settings()
