"""Stage 1, candidates: loading structures (CSV, JSON, CIF/POSCAR, OPTIMADE, the demo set), the screen
(gap, formation energy, disorder, size, duplicates) and the structure fingerprints that make submission
idempotent. Pure functions; no jobflow."""
