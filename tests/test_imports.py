"""The import graph of the project's packages: no cycles, and `ingest` stays below Dagster and the CLI.

Read with `ast` (nothing is imported), counting every import a module makes, at the top or inside a
function, except those under `if TYPE_CHECKING:` (never executed). A cycle, even through a late
import, means two modules that cannot be understood or changed one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "orchestration", "tickwh")
# What plain Python (ingest/) must never import: the orchestrator and the command line sit above it.
ABOVE_INGEST = ("orchestration", "tickwh", "dagster", "dagster_dbt", "dagster_duckdb", "dagster_webserver")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, modules: frozenset[str] = frozenset()) -> set[str]:
    """Absolute names imported. `from pkg import mod` (mod one of `modules`) counts `pkg.mod` alone: the
    package's __init__ is not blamed for what its submodules import."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = {f"{prefix}.{alias.name}" for alias in node.names}
            found.update(names)
            if not names <= modules:
                found.add(prefix)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        imported = _imports(ast.parse(path.read_text(), str(path)), name, path.name == "__init__.py", frozenset(files))
        graph[name] = {m for m in imported if m in files and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_graph_is_read():
    graph = import_graph()
    assert "orchestration.definitions" in graph and "ingest.settings" in graph
    assert "orchestration.defs.raw.assets" in graph["orchestration.definitions"]
    assert "ingest.settings" in graph["ingest.lake"]


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_ingest_imports_neither_orchestration_nor_the_cli_nor_dagster():
    offending = []
    for path in (REPO / "ingest").rglob("*.py"):
        name = _module_name(path)
        for imported in _imports(ast.parse(path.read_text()), name, path.name == "__init__.py"):
            if imported.split(".")[0] in ABOVE_INGEST:
                offending.append(f"{name} -> {imported}")
    assert offending == []


def test_orchestration_does_not_import_the_cli():
    graph = import_graph()
    assert [(m, i) for m, imps in graph.items() if m.startswith("orchestration") for i in imps
            if i.startswith("tickwh")] == []
