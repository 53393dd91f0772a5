"""Stage 4, MD and transport: the restartable Langevin engines (ASE, torch-sim), trajectories, diffusion
analysis and kinisi (pure functions), and the MD jobs with the stability gate (``jobs``, ``schemas``)."""
