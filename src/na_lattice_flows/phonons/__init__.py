"""Stage 3, phonons: displacement references (phononDB, random displacements), force-constant fits,
the dynamic-stability screen and the lattice-dynamics descriptors (pure functions), and the phonon job
(``jobs``, ``schemas``)."""

from na_lattice_flows._legacy import package_getattr

__getattr__ = package_getattr('phonons')  # the 0.1 module phonons.py's names, with a DeprecationWarning
