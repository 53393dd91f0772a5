"""Stage 6, analysis: the campaign dataset and its statistics, the D model, figures (pure functions of
tables) and the HTML report (which reads the store through ``execution``)."""

from na_lattice_flows._legacy import package_getattr

__getattr__ = package_getattr('analysis')  # the 0.1 module analysis.py's names, with a DeprecationWarning
