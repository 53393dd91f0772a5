"""The package layout keeps its rules (README, "Layout"): imports point one way (import-linter's contracts in
pyproject.toml), every module imports on its own, modules stay short, and defaults live in ``settings``."""

from __future__ import annotations

import ast
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import na_lattice_flows

PACKAGE_DIR = Path(na_lattice_flows.__file__).parent
REPO = PACKAGE_DIR.parents[1]
MODULES = sorted(
    info.name for info in pkgutil.walk_packages([str(PACKAGE_DIR)], "na_lattice_flows.")
)


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    run = subprocess.run(
        [lint_imports, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert re.search(r"Contracts: 3 kept, 0 broken", run.stdout), run.stdout[-2000:]


PATCHABLE = """
import importlib, sys
from jobflow.core import flow, reference
from jobflow.utils import find
def state():
    return (reference.find_and_get_references, reference.validate_schema_access, flow.find_and_get_references,
            find.contains_flow_or_job, flow.contains_flow_or_job, tuple(sys.meta_path))
before = state()
for module in MODULES:
    importlib.import_module(module)
changed = [i for i, (a, b) in enumerate(zip(before, state())) if a is not b and a != b]
assert not changed, f"importing changed {changed}"
"""


@pytest.mark.parametrize(
    "modules", [["na_lattice_flows.phonons.descriptors"], MODULES], ids=["descriptors", "all"]
)
def test_importing_patches_nothing(modules):
    """In a fresh interpreter: importing the package's modules leaves jobflow's functions and the import
    machinery as they were (the jobflow shortcut is switched on by the command line and submission only)."""
    run = subprocess.run(
        [sys.executable, "-c", f"MODULES = {modules!r}" + PATCHABLE],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_shortcut_installs_only_on_tested_jobflow_versions(monkeypatch):
    import jobflow
    from jobflow.core import reference

    from na_lattice_flows.execution import jobflow_speed

    original = reference.find_and_get_references
    monkeypatch.setattr(jobflow, "__version__", "99.0")
    assert jobflow_speed.install() is False and reference.find_and_get_references is original


def test_the_import_graph_has_no_cycle():
    """Between modules, counting imports inside functions too (grimp's graph, as import-linter builds it); a
    package's ``__init__`` importing its own modules is not a cycle."""
    import grimp

    graph = grimp.build_graph("na_lattice_flows")

    def edges(module: str) -> set[str]:
        return {
            m
            for m in graph.find_modules_directly_imported_by(module)
            if not module.startswith(m + ".") and not m.startswith(module + ".")
        }

    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges(module)):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph.modules):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def _source(module: str) -> Path:
    path = PACKAGE_DIR.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_defaults_are_not_repeated_as_literals():
    """The default model, screening temperature and supercell size are named once, in ``settings``."""
    repeated = []
    for module in MODULES:
        # the registry lists every model name
        if module in (
            "na_lattice_flows.settings",
            "na_lattice_flows.models",
        ):
            continue
        for node in ast.walk(ast.parse(_source(module).read_text())):
            if isinstance(node, ast.arguments):
                defaults = [*node.defaults, *(d for d in node.kw_defaults if d is not None)]
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                defaults = [node.value]
            elif isinstance(node, ast.keyword) and node.arg == "default":
                defaults = [node.value]
            else:
                continue
            for value in defaults:
                if isinstance(value, ast.Constant) and value.value in (
                    "chgnet",
                    800.0,
                    800,
                    80,
                    "800",
                    "na_flows_trajectories",
                ):
                    repeated.append(f"{module}:{value.lineno} {value.value!r}")
    assert not repeated, repeated


def test_old_module_paths_are_not_used_inside_the_package():
    from na_lattice_flows.legacy_paths import OLD_MODULES

    old = "|".join(name for name in OLD_MODULES if not (PACKAGE_DIR / name).is_dir())
    pattern = re.compile(rf"na_lattice_flows\.({old})\b")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in [
            *REPO.glob("src/**/*.py"),
            *REPO.glob("tests/**/*.py"),
            *REPO.glob("flows/*.py"),
            *REPO.glob("benchmarks/*.py"),
        ]
        if path.name not in ("legacy_paths.py", "test_store_from_0_1.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
