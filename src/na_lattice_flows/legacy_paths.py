"""Release 0.1's module paths (one flat package) and the modules that hold their names now.

Stores written by 0.1 name jobs, Makers and documents by those paths (FireWorks specs hold
``{"@module": "na_lattice_flows.phonon_jobs", "@callable": "mlp_phonons"}``; job outputs hold pydantic documents
by module and class). ``execution.store_migration`` rewrites them once, when such a store is opened, with
``rewrite_module_paths``; the settings fingerprint of 0.1 (``candidates.fingerprints``) is computed from
``NEW_TO_OLD_MODULE``. Nothing here is installed on import: the paths are data, resolved only when asked.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "md": ("md.langevin", "md.restart"),
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
    "stores": (
        "execution.stores",
        "execution.store_config",
        "execution.worker_files",
        "execution.embedded",
    ),
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


def current_module(old_path: str, name: str) -> str | None:
    """The module that holds ``name`` (a class or callable, ``Maker.make`` too) of the 0.1 module ``old_path``
    (``na_lattice_flows.<old>``), or None if ``old_path`` is not a 0.1 path or no successor has the name."""
    package, _, old = old_path.partition(".")
    if package != PACKAGE or old not in OLD_MODULES:
        return None
    attribute = name.split(".")[0]
    for module in OLD_MODULES[old]:
        if hasattr(importlib.import_module(f"{PACKAGE}.{module}"), attribute):
            return f"{PACKAGE}.{module}"
    return None


def rewrite_module_paths(value: Any) -> tuple[Any, int]:
    """``value`` (a stored document, walked through its dicts and lists) with every 0.1 ``@module`` path replaced
    by the module that holds its ``@class`` or ``@callable`` now, and how many were replaced. Paths with no
    successor are left as they are (decoding them then names the path)."""
    if isinstance(value, list):
        items = [rewrite_module_paths(item) for item in value]
        return [item for item, _ in items], sum(count for _, count in items)
    if not isinstance(value, dict):
        return value, 0
    replaced = 0
    rewritten = {}
    for key, item in value.items():
        rewritten[key], count = rewrite_module_paths(item)
        replaced += count
    module, name = value.get("@module"), value.get("@class", value.get("@callable"))
    if isinstance(module, str) and isinstance(name, str):
        successor = current_module(module, name)
        if successor is not None and successor != module:
            rewritten["@module"] = successor
            replaced += 1
    return rewritten, replaced
