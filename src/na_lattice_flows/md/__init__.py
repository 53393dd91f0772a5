"""Stage 4, MD and transport: the restartable Langevin engines (ASE, torch-sim), trajectories, diffusion
analysis and kinisi (pure functions), and the MD jobs with the stability gate (``jobs``, ``schemas``)."""

from na_lattice_flows._legacy import package_getattr

__getattr__ = package_getattr('md')  # the 0.1 module md.py's names, with a DeprecationWarning
