"""The ``na-flows`` command line: one module per command group, ``main`` the entry point."""

from na_lattice_flows._legacy import package_getattr
from na_lattice_flows.cli.app import main

__all__ = ["main"]
__getattr__ = package_getattr("cli")  # the 0.1 module cli.py's other names, with a DeprecationWarning
