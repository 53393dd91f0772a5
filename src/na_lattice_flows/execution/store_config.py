"""Which store a command uses: a real MongoDB when one is configured (``--mongodb-uri``, else
``NA_FLOWS_MONGODB_URI``, else ``mongodb_uri`` in the file named by ``NA_FLOWS_CONFIG``, default
``launchpad/na_flows.yaml``), else the embedded store in the work folder. Authentication, TLS and replica sets are
URI options; the database is the URI's path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import yaml

from na_lattice_flows.errors import InputError
from na_lattice_flows.settings import get_settings

DEFAULT_DATABASE = "na_lattice_flows"


OUTPUTS_COLLECTION = "outputs"


DATA_COLLECTION = "outputs_data"


CAMPAIGNS_COLLECTION = "campaigns"


class StoreConfigError(InputError):
    """The store configuration is unusable (bad URI, unreadable config file)."""


class StoreUnavailableError(RuntimeError):
    """The configured store cannot be used now: MongoDB unreachable, the embedded store damaged, locked or not
    writable. The message names the host or path and what to do."""


@dataclass(frozen=True)
class StoreSettings:
    """Where a session's store is: the embedded files in a work folder, or a MongoDB database."""

    mode: Literal["embedded", "mongodb"]
    workdir: Path
    mongodb_uri: str | None = None
    database: str = DEFAULT_DATABASE
    timeout_s: float = (
        10.0  # MongoDB server selection: how long to wait before saying it is unreachable
    )

    @property
    def launchpad_db(self) -> Path:
        """The embedded LaunchPad (SQLite)."""
        return self.workdir / "launchpad.sqlite"

    @property
    def jobstore_db(self) -> Path:
        """The embedded JobStore (SQLite)."""
        return self.workdir / "jobstore.sqlite"

    @property
    def launchpad_file(self) -> Path:
        """Release 0.2's LaunchPad (mongomock's JSON file): imported into launchpad.sqlite when found."""
        return self.workdir / "launchpad.json"

    @property
    def jobstore_dir(self) -> Path:
        """Release 0.2's job store (montydb's files): imported into jobstore.sqlite when found."""
        return self.workdir / "jobstore"

    @property
    def runs_dir(self) -> Path:
        """Launch folders of the jobs run here."""
        return self.workdir / "runs"

    def describe(self) -> str:
        """The store in words, for messages (no password)."""
        if self.mode == "embedded":
            return f"embedded store in {self.workdir.resolve()}"
        parsed = urlparse(self.mongodb_uri or "")
        return f"MongoDB {parsed.hostname or parsed.netloc.split('@')[-1]} database {self.database}"


def resolve_settings(
    workdir: str | Path | None = None, mongodb_uri: str | None = None
) -> StoreSettings:
    """Pick MongoDB when a URI is configured anywhere (argument, ``NA_FLOWS_MONGODB_URI``, the config file), else
    the embedded store in ``workdir`` (argument, else ``NA_FLOWS_WORKDIR``, else ./na_flows_work)."""
    settings = get_settings()
    workdir = Path(workdir or settings.workdir).resolve()
    database = settings.database
    uri = mongodb_uri or settings.mongodb_uri
    config_file = settings.config
    if not uri and config_file.is_file():
        try:
            config = yaml.safe_load(config_file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise StoreConfigError(f"{config_file}: not valid YAML ({exc})") from exc
        uri = config.get("mongodb_uri")
        database = database or config.get("database")
    if not uri:
        return StoreSettings(mode="embedded", workdir=workdir)
    timeout_s = settings.mongodb_timeout_s
    parsed = urlparse(uri)
    if parsed.scheme not in ("mongodb", "mongodb+srv"):
        raise StoreConfigError(f"MongoDB URI {uri!r}: must start with mongodb:// or mongodb+srv://")
    database = database or parsed.path.lstrip("/") or DEFAULT_DATABASE
    return StoreSettings(
        mode="mongodb", workdir=workdir, mongodb_uri=uri, database=database, timeout_s=timeout_s
    )
