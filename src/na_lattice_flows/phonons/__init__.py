"""Stage 3, phonons: displacement references (phononDB, random displacements), force-constant fits,
the dynamic-stability screen and the lattice-dynamics descriptors (pure functions), and the phonon job
(``jobs``, ``schemas``)."""
