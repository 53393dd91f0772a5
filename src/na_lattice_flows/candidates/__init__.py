"""Stage 1, candidates: loading structures (CSV, JSON, CIF/POSCAR, OPTIMADE, the demo set), the screen
(gap, formation energy, disorder, size, duplicates) and the structure fingerprints that make submission
idempotent. Pure functions; no jobflow."""

from na_lattice_flows._legacy import package_getattr

__getattr__ = package_getattr('candidates')  # the 0.1 module candidates.py's names, with a DeprecationWarning
