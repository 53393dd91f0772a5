"""The ``na-flows`` command line: one module per command group, ``main`` the entry point."""

from na_lattice_flows.cli.app import main

__all__ = ["main"]
