"""FireWorks' own commands (``lpad``, ``rlaunch``) on the embedded store of ``NA_FLOWS_WORKDIR``, whose LaunchPad
is an SQLite file FireWorks cannot open by itself:

    python -m na_lattice_flows.execution.fireworks_commands lpad get_wflows -d less
    python -m na_lattice_flows.execution.fireworks_commands rlaunch rapidfire
"""

from __future__ import annotations

import sys

from na_lattice_flows.execution.embedded import select_sqlite_launchpad
from na_lattice_flows.execution.store_config import resolve_settings

COMMANDS = ("lpad", "rlaunch")


def main(argv: list[str] | None = None) -> int:
    """Run a FireWorks command (lpad, rlaunch, qlaunch) on this package's store."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: python -m na_lattice_flows.execution.fireworks_commands {{{'|'.join(COMMANDS)}}} ARGS...",
            file=sys.stderr,
        )
        return 2
    settings = resolve_settings()
    if settings.mode != "embedded" or not settings.launchpad_db.is_file():
        print(
            f"{settings.describe()}: not an embedded store with a launchpad.sqlite (use FireWorks' commands directly on MongoDB)",
            file=sys.stderr,
        )
        return 2
    select_sqlite_launchpad(settings.launchpad_db, read_only=False)
    sys.argv = [argv[0], *argv[1:]]
    if argv[0] == "lpad":
        from fireworks.scripts.lpad_run import lpad as command
    else:
        from fireworks.scripts.rlaunch_run import rlaunch as command
    return command() or 0


if __name__ == "__main__":
    sys.exit(main())
