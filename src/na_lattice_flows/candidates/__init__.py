"""Stage 1, candidates: loading structures (CSV, JSON, CIF/POSCAR, OPTIMADE, the demo set), the screen
(gap, formation energy, disorder, size, duplicates) and the structure fingerprints that make submission
idempotent. Pure functions; no jobflow."""

# how the screen treats a structure without a band gap (``screen.screen_candidates``; the command line's choices)
UNKNOWN_GAP_POLICIES = ("keep", "charge-balance", "refuse")
