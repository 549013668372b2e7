"""The layering the code promises, checked by walking its imports (with ``ast``, so no
module is imported): no cycle between the library's packages, ``db`` at the bottom, the
lab (emulator, synthetic data, server processes) and Dagster kept out of the library."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.helpers import ROOT

LIBRARY = ROOT / "trackstack_wh"
LAB_ALLOWED = {"warehouse_delivery.py", "cli_delivery.py", "cli.py"}
"""Where the library may reach the lab: only inside a function a user calls for it
(``Warehouse.push_to_emulator``, ``push --emulator``, ``serve-emulator``, the demo)."""
BELOW_DB = {"errors", "sql", "contract", "db"}


@dataclass(frozen=True)
class Import:
    path: Path
    module: str
    line: int
    lazy: bool


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for n in ast.walk(node))
    return hidden


@cache
def imports(path: Path) -> tuple[Import, ...]:
    """Every runtime import in a file (``if TYPE_CHECKING`` blocks left out)."""
    return tuple(_walk_imports(path))


def _walk_imports(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            yield Import(path, name, node.lineno, id(node) in in_function)


def unit_of(module: str) -> str | None:
    """The library package (or top-level module) a dotted name belongs to."""
    parts = module.split(".")
    if parts[0] != "trackstack_wh" or len(parts) < 2:
        return None
    name = parts[1]
    if (LIBRARY / name).is_dir() or (LIBRARY / f"{name}.py").is_file():
        return name
    return None


def library_files() -> list[Path]:
    return sorted(LIBRARY.rglob("*.py"))


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in library_files():
        source = path.relative_to(LIBRARY).parts[0].removesuffix(".py")
        for found in imports(path):
            target = unit_of(found.module)
            if target and target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_library_packages() -> None:
    graph = package_graph()
    assert "warehouse" in graph and "db" in graph["warehouse"], "the walk sees imports"
    assert cycles(graph) == []


def test_db_is_the_bottom_layer() -> None:
    above = {
        f"{i.path.name}:{i.line} imports {i.module}"
        for i in imports(LIBRARY / "db.py")
        if (unit := unit_of(i.module)) and unit not in BELOW_DB
    }
    assert not above


def test_library_holds_no_lab_code_and_reaches_it_only_on_request() -> None:
    assert not (LIBRARY / "emulator").exists()
    assert not list(LIBRARY.glob("synthetic*.py"))
    reaches = [
        i
        for path in library_files()
        for i in imports(path)
        if i.module.startswith("trackstack_lab")
    ]
    assert all(i.lazy and i.path.name in LAB_ALLOWED for i in reaches), reaches


def test_library_never_imports_dagster() -> None:
    found = [
        f"{i.path.relative_to(ROOT)}:{i.line}"
        for path in library_files()
        for i in imports(path)
        if i.module.split(".")[0] in {"dagster", "dagster_defs"}
    ]
    assert not found
