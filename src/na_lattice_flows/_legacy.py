"""Old module paths (release 0.1, one flat package) -> the modules that hold their names now.

Stores written by 0.1 name jobs, Makers and documents by their 0.1 module paths (FireWorks specs hold
``{"@module": "na_lattice_flows.phonon_jobs", "@callable": "mlp_phonons"}``; job outputs hold pydantic documents
by module and class). Those paths keep working: importing ``na_lattice_flows.<old>`` returns a stand-in module
that finds each name in the modules listed here and warns (DeprecationWarning) that the path is old. Where a new
package has the old name (``candidates``, ``phonons``, ``md``, ``execution``, ``analysis``, ``cli``), the package
itself answers for the old module's names the same way.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings
from pathlib import Path

PACKAGE = "na_lattice_flows"

OLD_MODULES: dict[str, tuple[str, ...]] = {
    "candidates": ("candidates.loaders",),
    "optimade": ("candidates.optimade",),
    "demo_set": ("candidates.demo_set",),
    "screening": ("candidates.screen",),
    "fingerprints": ("candidates.fingerprints",),
    "supercells": ("structure.supercells",),
    "structure_descriptors": ("structure.descriptors",),
    "jobs": ("relax.jobs", "workflow.summary"),
    "elastic": ("relax.elastic", "relax.jobs"),
    "references": ("phonons.references",),
    "force_constants": ("phonons.force_constants",),
    "phonons": ("phonons.descriptors",),
    "phonon_jobs": ("phonons.jobs", "phonons.schemas"),
    "md": ("md.langevin",),
    "md_batched": ("md.batched",),
    "trajectory_io": ("md.trajectory",),
    "transport": ("md.diffusion", "md.transport", "md.trajectory"),
    "md_jobs": ("md.jobs", "md.schemas"),
    "gpaw_dft": ("dft.gpaw",),
    "gpaw_jobs": ("dft.gpaw_jobs", "dft.schemas"),
    "vasp_jobs": ("dft.vasp_jobs",),
    "validation": ("dft.validation", "dft.schemas"),
    "force_benchmark": ("benchmark.forces", "phonons.stability", "phonons.references"),
    "benchmark_jobs": ("benchmark.jobs",),
    "workflows": ("workflow.screening", "workflow.names"),
    "schemas": ("workflow.schemas", "execution.submission", "md.schemas"),
    "stores": ("execution.stores", "execution.store_config", "execution.worker_files", "execution.embedded"),
    "execution": ("execution.submission", "execution.launching"),
    "results": ("execution.results", "execution.queries"),
    "analysis": ("analysis.dataset",),
    "ml": ("analysis.ml",),
    "figures": ("analysis.figures",),
    "report": ("analysis.report", "analysis.html"),
    "cli": ("cli.app",),
}

# Where a 0.1 module's main content went: its first entry above (for the 0.1 settings fingerprint).
NEW_TO_OLD_MODULE = {f"{PACKAGE}.{new[0]}": f"{PACKAGE}.{old}" for old, new in OLD_MODULES.items()}


def resolve(old_module: str, name: str):
    """``name`` as the 0.1 module ``old_module`` (without the package prefix) had it."""
    for module in OLD_MODULES[old_module]:
        found = importlib.import_module(f"{PACKAGE}.{module}")
        if hasattr(found, name):
            warnings.warn(
                f"{PACKAGE}.{old_module} is the 0.1 layout: import {name} from {PACKAGE}.{module}",
                DeprecationWarning,
                stacklevel=3,
            )
            return getattr(found, name)
    raise AttributeError(f"module {PACKAGE}.{old_module} (0.1 layout) has no attribute {name!r}")


def package_getattr(old_module: str):
    """A module ``__getattr__`` for a package that has the name of a 0.1 module."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return resolve(old_module, name)

    return __getattr__


class _OldModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``na_lattice_flows.<old>`` for the 0.1 module names that no longer exist as files."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, old = fullname.partition(".")
        if package != PACKAGE or "." in old or old not in OLD_MODULES:
            return None
        if _exists(old):
            return None  # a package of that name answers for it
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = types.ModuleType(spec.name, f"0.1 module path; its names live in {', '.join(OLD_MODULES[spec.name.split('.')[1]])}")
        module.__getattr__ = package_getattr(spec.name.split(".")[1])
        return module

    def exec_module(self, module):
        return None


def _exists(old: str) -> bool:
    return (Path(__file__).parent / old / "__init__.py").is_file()


def install() -> None:
    if not any(isinstance(finder, _OldModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_OldModuleFinder())
