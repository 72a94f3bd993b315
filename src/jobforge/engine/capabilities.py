"""Checking steps against what the chosen executor declares it can do.

Before anything runs (``jobforge run``, ``run --dry-run``, and each promotion of
the library API), every step's needs are compared with the executor's
:class:`~jobforge.engine.executor.Capabilities`; each need it does not declare is
one line naming the table and the missing capability. One place for these rules:
the project checks and the engine both call :func:`silver_problems`,
:func:`gold_problems` and :func:`store_problems`.
"""

from __future__ import annotations

from typing import Any

from jobforge.engine.executor import Capabilities, Executor, transform_kind
from jobforge.engine.steps import load_callable, transform_name
from jobforge.engine.transform_rules import ARROW
from jobforge.errors import ConfigError

PROJECT_SQL_DIALECT = "duckdb"
"""The dialect rule expressions and gold SQL are written in."""


def capabilities_of(executor: Executor) -> Capabilities:
    """The executor's declared capabilities (an executor that declares none gets
    the defaults: declarative steps only, one file per output, DuckDB SQL)."""
    declared = getattr(executor, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else Capabilities()


def _resolved_kind(fn: Any) -> str | None:
    try:
        return transform_kind(load_callable(fn) if isinstance(fn, str) else fn)
    except ConfigError:
        return None  # reported where the reference is checked (or when the step runs)


def _kind_problem(executor: Executor, what: str, fn: Any) -> str | None:
    caps = capabilities_of(executor)
    kind = _resolved_kind(fn)
    if kind is None or kind in caps.transforms:
        return None
    runs = ", ".join(sorted(caps.transforms)) or "none"
    return (
        f"{what} {transform_name(fn)!r} is a {kind} transform; the executor "
        f"{executor.name!r} lacks the capability transforms={kind!r} (it runs: {runs})"
    )


def silver_problems(
    executor: Executor, table: str, transforms: list[Any], has_rules: bool
) -> list[str]:
    """What the executor cannot do of a silver step of ``table``."""
    caps = capabilities_of(executor)
    problems = [
        problem
        for fn in transforms
        if (problem := _kind_problem(executor, f"silver {table!r}: transform", fn)) is not None
    ]
    arrow = None
    for fn in transforms:
        kind = _resolved_kind(fn)
        if kind == ARROW:
            arrow = fn
        elif kind is not None and arrow is not None:
            problems.append(
                f"silver {table!r}: transform {transform_name(fn)!r} ({kind}) follows the arrow "
                f"transform {transform_name(arrow)!r}; arrow transforms run last, so list "
                "them after the others"
            )
    if has_rules and caps.sql_dialect != PROJECT_SQL_DIALECT:
        problems.append(
            f"silver {table!r}: rules are {PROJECT_SQL_DIALECT} SQL; the executor "
            f"{executor.name!r} reads {caps.sql_dialect} (capability sql_dialect)"
        )
    return problems


def gold_problems(executor: Executor, table: str, sql: str | None, function: Any) -> list[str]:
    """What the executor cannot do of the gold step building ``table``."""
    caps = capabilities_of(executor)
    if sql is None:
        if _resolved_kind(function) == ARROW:
            return [
                f"gold {table!r}: function {transform_name(function)!r} is an arrow transform; "
                "arrow transforms run per batch in silver only (a gold function sees whole "
                "tables: write it as gold SQL or for the executor's own kind)"
            ]
        problem = _kind_problem(executor, f"gold {table!r}: function", function)
        return [] if problem is None else [problem]
    if not caps.gold_sql:
        return [
            f"gold {table!r}: the executor {executor.name!r} lacks the capability gold_sql "
            "(it does not run gold SQL)"
        ]
    if caps.sql_dialect != PROJECT_SQL_DIALECT:
        return [
            f"gold {table!r}: the SQL is {PROJECT_SQL_DIALECT} SQL; the executor "
            f"{executor.name!r} reads {caps.sql_dialect} (capability sql_dialect)"
        ]
    return []


def store_problems(executor: Executor, store: object, step: str = "") -> list[str]:
    """Whether the table store keeps what the executor writes (one file or a
    folder of files per output); a store that does not say (an attribute
    ``files_per_version``) keeps one file. ``step`` (``"bronze 't'"``) starts
    the line when one step is checked."""
    writes = capabilities_of(executor).files_per_version
    keeps = getattr(store, "files_per_version", "one")
    if writes == "many" and keeps != "many":
        return [
            (f"{step}: " if step else "")
            + f"the executor {executor.name!r} writes many files per table version "
            f"(capability files_per_version='many'); the table store "
            f"{getattr(store, 'name', type(store).__name__)!r} keeps one"
        ]
    return []
