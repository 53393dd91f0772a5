"""Choosing the MLP: forces, force constants and stability of MLPs against DFT references
(``forces``: pure functions; ``jobs``: the benchmark flow)."""
