"""The package's modules import each other without cycles: module-level imports (those that run
at import time, ``TYPE_CHECKING`` blocks left out) form a directed acyclic graph, so each module
can be read, and imported, after the modules it uses."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "abcparam"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The package modules one ``from ... import ...`` names (a name may be a submodule)."""
    if node.level:
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    return [module] + [f"{module}.{a.name}" for a in node.names]


def _top_level_imports(tree: ast.Module):
    """Import statements run at import time: module body, ``if``/``try`` blocks, not functions
    and not ``if TYPE_CHECKING:``."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody
            stack += [s for h in node.handlers for s in h.body]


def import_graph() -> dict[str, set[str]]:
    """Each package module and the package modules it imports at module level."""
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                targets = _resolve(name, is_package, node)
            for target in targets:
                # an enclosing package is already importing when its module runs: no edge
                if target in files and not (name + ".").startswith(target + "."):
                    graph[name].add(target)
    return graph


def test_no_import_cycle_among_package_modules():
    graph = import_graph()
    assert sum(map(len, graph.values())) > 100  # the parse found the package's imports
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
