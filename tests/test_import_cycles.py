"""No cycles between the packages of ``src/jobforge``.

A node is a sub-package (``jobforge.engine``) or a top-level module
(``jobforge.errors``, ``jobforge.provenance``); ``jobforge`` itself is the
package's ``__init__``. An edge is an import that runs: at module level *or*
inside a function (a function-level import only delays a cycle, it does not
remove it). Imports under ``if TYPE_CHECKING:`` never run and are not counted;
nor are the name tables of the lazy front doors (``jobforge``,
``jobforge.plugin``), which import by string when a name is first used.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

from .conftest import REPO

SRC = REPO / "src" / "jobforge"


def _node_of(module: str) -> str:
    """The graph node a ``jobforge`` module belongs to."""
    parts = module.split(".")
    return "jobforge" if len(parts) == 1 else f"jobforge.{parts[1]}"


def _module_of(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST) -> list[tuple[str, int]]:
    """``(module, line)`` of every import that runs (not under ``TYPE_CHECKING``)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, child.lineno))
                # ``from jobforge import provenance`` imports the module jobforge.provenance
                for alias in child.names:
                    sub = f"{child.module}.{alias.name}"
                    as_path = SRC.parent / Path(*sub.split("."))
                    if as_path.with_suffix(".py").is_file() or as_path.is_dir():
                        found.append((sub, child.lineno))
            visit(child)

    visit(tree)
    return [(m, line) for m, line in found if m == "jobforge" or m.startswith("jobforge.")]


def import_graph() -> dict[str, dict[str, list[str]]]:
    """node -> node it imports -> where (``module:line -> imported module``)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module_of(path)
        source = _node_of(module)
        graph.setdefault(source, {})
        for imported, line in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            target = _node_of(imported)
            if target != source:
                where = f"{module}:{line} -> {imported}"
                graph[source].setdefault(target, []).append(where)
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle of ``graph`` as its nodes in order (first == last), or ``None``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := walk(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_graph_sees_module_and_function_level_imports() -> None:
    graph = import_graph()
    # module level: the engine's pipeline imports the catalog's declarations
    assert "jobforge.catalog" in graph["jobforge.engine"]
    # function level: PipelineConfig builds its plugin host when first asked
    assert any(
        "jobforge.pipeline.config:" in w for w in graph["jobforge.pipeline"]["jobforge.hooks"]
    )
    # ``from jobforge import provenance as prov`` is an edge to jobforge.provenance
    assert "jobforge.provenance" in graph["jobforge.sql"]


def test_find_cycle_reports_a_cycle() -> None:
    graph = {"a": {"b": ["a:1 -> b"]}, "b": {"c": ["b:1 -> c"]}, "c": {"a": ["c:1 -> a"]}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}}) is None


def test_no_cycle_between_the_packages() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle is not None:
        steps = [f"{a} -> {b}: {graph[a][b][0]}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle:\n" + "\n".join(steps))
