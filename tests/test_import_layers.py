"""Imports point down the layers and form no cycle, deferred imports included.

Layers, top to bottom (a module may import its own layer or any below it):
entry points (cli) > applications (pacs, cohort, evaluate, ui, demo) > pipeline (with its
segment step and checks) > stages (measure, bca, report, context) > foundations (imaging,
models, settings) > basics (errors, labelmap, console, the package's face). Product code never imports tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

PACKAGE = "body_organ_analysis"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
LAYERS: list[tuple[str, ...]] = [
    ("errors", "labelmap", "console", "__init__"),
    ("imaging", "models", "settings", "config"),
    ("measure", "bca", "report", "context"),
    ("pipeline", "segment", "preflight"),
    ("pacs", "cohort", "evaluate", "ui", "demo", "options"),
    ("cli", "__main__"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} belongs to no layer: add its top-level name to LAYERS")


def _imports(path: Path, module: str) -> set[str]:
    """Every body_organ_analysis module this file imports, at any depth of the code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = {name for name in _imports(path, module) if name in files and name != module}
    return graph


GRAPH = _graph()


def test_every_module_has_a_layer() -> None:
    for module in GRAPH:
        _layer(module)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    upward = [name for name in GRAPH[module] if _layer(name) > _layer(module)]
    assert not upward, f"{module} imports modules of a higher layer: {sorted(upward)}"


def test_no_import_cycles() -> None:
    names = sorted(GRAPH)
    index = {name: i for i, name in enumerate(names)}
    rows = [index[a] for a in names for b in GRAPH[a]]
    cols = [index[b] for a in names for b in GRAPH[a]]
    matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    count, labels = connected_components(matrix, directed=True, connection="strong")
    cycles = [sorted(n for n in names if labels[index[n]] == c) for c in range(count)]
    cycles = [c for c in cycles if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_product_never_imports_tests() -> None:
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            assert not any(n == "tests" or n.startswith("tests.") for n in names), path
