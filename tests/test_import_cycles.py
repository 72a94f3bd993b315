"""No cycles between the packages of ``src/jobforge``.

A node is a sub-package (``jobforge.engine``) or a top-level module
(``jobforge.errors``, ``jobforge.provenance``); ``jobforge`` itself is the
package's ``__init__``. An edge is an import that runs: at module level *or*
inside a function (a function-level import only delays a cycle, it does not
remove it). Imports under ``if TYPE_CHECKING:`` never run and are not counted;
nor are the name tables of the lazy front doors (``jobforge``,
``jobforge.plugin``), which import by string when a name is first used.

At the type level (``TYPE_CHECKING`` imports counted too) the packages have no
cycle either, but for the plugin seams (:data:`TYPE_SEAMS`): the hook
specifications and the plugin host name the contract types of every package
they connect, and ``PipelineConfig`` hands out the plugin host and the stores;
nor does the front door's ``TYPE_CHECKING`` mirror of its name table count.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

from .conftest import REPO

SRC = REPO / "src" / "jobforge"

FRONT_DOORS = frozenset({"jobforge"})
"""The lazy front door whose ``TYPE_CHECKING`` block (the mirror of its name table)
would close a cycle: many packages import ``jobforge`` (``from jobforge import
provenance``). ``jobforge.plugin`` needs no exemption: no core module imports it."""
TYPE_SEAMS = frozenset({"jobforge.hooks.specs", "jobforge.hooks.host", "jobforge.pipeline.config"})
"""Modules whose ``TYPE_CHECKING`` imports are the plugin seams' signatures: the
hook contracts take and return the types of the packages the hooks serve
(executor, stores, reader, config, records), and ``PipelineConfig.plugins``,
``.store`` and ``.catalog`` return the host and the stores. Each one closes a
cycle at the type level (checked below), so the list cannot outlive its reason."""


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


def _imported(tree: ast.AST, type_level: bool = False) -> list[tuple[str, int]]:
    """``(module, line)`` of every import that runs (not under ``TYPE_CHECKING``),
    or with ``type_level`` of every import, ``TYPE_CHECKING`` ones too."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not type_level:
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


def import_graph(
    type_level: bool = False, exempt: frozenset[str] = FRONT_DOORS | TYPE_SEAMS
) -> dict[str, dict[str, list[str]]]:
    """node -> node it imports -> where (``module:line -> imported module``).

    With ``type_level``, ``TYPE_CHECKING`` imports count too, except in the
    modules ``exempt`` names (their imports that run still count)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module_of(path)
        source = _node_of(module)
        graph.setdefault(source, {})
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for imported, line in _imported(tree, type_level and module not in exempt):
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


def test_the_type_level_graph_sees_type_checking_imports() -> None:
    runs = import_graph()
    typed = import_graph(type_level=True)
    # ``if TYPE_CHECKING:`` in jobforge.engine.executor names the source reader's types
    where = "jobforge.engine.executor:58 -> jobforge.sources.base"
    assert where in typed["jobforge.engine"]["jobforge.sources"]
    assert where not in runs["jobforge.engine"]["jobforge.sources"]
    # every edge that runs is an edge at the type level too
    for source, targets in runs.items():
        for target, wheres in targets.items():
            assert set(wheres) <= set(typed[source][target])


def test_no_cycle_between_the_packages_at_the_type_level() -> None:
    graph = import_graph(type_level=True)
    cycle = find_cycle(graph)
    if cycle is not None:
        steps = [f"{a} -> {b}: {graph[a][b][0]}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle (type level):\n" + "\n".join(steps))


def test_each_type_seam_closes_a_cycle_without_its_exemption() -> None:
    """No module is exempt without need: counted, each one's type imports make a cycle."""
    for module in sorted(FRONT_DOORS | TYPE_SEAMS):
        graph = import_graph(type_level=True, exempt=(FRONT_DOORS | TYPE_SEAMS) - {module})
        assert find_cycle(graph) is not None, module
