"""Screening Na solid electrolytes through lattice dynamics and machine-learned force fields, as jobflow flows
dispatched by FireWorks. Layout and import rules: README, "Layout"."""

from na_lattice_flows._jobflow_speed import install as _cache_jobflow_schema_checks
from na_lattice_flows._legacy import install as _install_legacy_paths

__version__ = "0.3.0"

_install_legacy_paths()  # stores written by 0.1 name its module paths
_cache_jobflow_schema_checks()
