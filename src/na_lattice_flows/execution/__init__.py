"""Execution and stores: the embedded or MongoDB stores, submission to FireWorks, launching and recovery,
and the queries that read results back. The only layer that talks to FireWorks and maggma."""

from na_lattice_flows._legacy import package_getattr

__getattr__ = package_getattr('execution')  # the 0.1 module execution.py's names, with a DeprecationWarning
