"""Checking a project against what can be known without reading the data.

Before a run (and in ``run --dry-run``), every source table's declarations are
checked against the columns its files will have: the header of each source
file (a JSON file's first record), the columns after bronze's renames and
casts, the de-duplication keys and rules of silver, and each gold table's SQL,
bound over empty inputs with the columns its inputs will have. Every mistake is
reported at once, with its place in ``jobforge.toml`` and the columns that do
exist; nothing runs and nothing is written (exit 2).

A source file that cannot be read at all is not a mistake in the project: the
run reports that table as failed and goes on with the others. The checks that
need its columns are left out (and so are those of the tables built from it).

Labels are followed the same way (:mod:`jobforge.catalog.governance`): what each
layer's classification and columns' PII classes will be, from the declarations
and the column lineage of each step, so that a declared label lower than its
inputs give (without a ``declassify`` decision) is a mistake reported here, in
``jobforge.toml``'s terms. Labels an enrichment plugin adds at run time are
checked by the engine when the step runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jobforge import provenance as prov
from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.derivation import StepLineage
from jobforge.catalog.governance import Computed, InputLabels, label_problems, labels_after
from jobforge.engine.capabilities import gold_problems, silver_problems, store_problems
from jobforge.engine.column_lineage import bronze_lineage, sql_lineage, staged_lineage
from jobforge.engine.executor import Executor
from jobforge.errors import ConfigError, JobforgeError
from jobforge.pipeline.config import PipelineConfig
from jobforge.project.check_memo import check_key, passed_before, remember_passed
from jobforge.project.loader import ProjectError
from jobforge.project.model import Project, SourceTable
from jobforge.project.runner import declaration_for
from jobforge.sources.base import SourceHeader, SourceSpec, source_header

Columns = dict[str, str]
"""Column name -> type (``string``, ``int``, ``float``, ``bool``, ``date``,
``datetime``, ``strings`` for ``_lineage``, ``other``)."""

_PROVENANCE_TYPES: Columns = {
    prov.SOURCE_FILE: "string",
    prov.INGESTED_AT: "datetime",
    prov.BATCH_ID: "string",
    prov.LAYER: "string",
    prov.SOURCE_ROW: "int",
    prov.PROCESSED_AT: "datetime",
}


@dataclass
class _Schemas:
    """The silver and gold columns worked out so far, for the gold checks."""

    tables: dict[str, Columns | None] = field(default_factory=dict)
    """``None``: not known (a file that cannot be read, a Python transform)."""
    labels: dict[str, InputLabels | None] = field(default_factory=dict)
    """The labels each table's last layer passes on (``None``: not known)."""


def check_project(
    project: Project, config: PipelineConfig, executor: Executor, *, remember: bool = False
) -> None:
    """Raise :class:`ProjectError` listing every mistake found (see the module
    docstring); return quietly when there is none.

    The sources' headers are read every time; the rest is skipped when the same
    project, headers and plugins passed before in this data root
    (:mod:`jobforge.project.check_memo`). ``remember``: keep a pass for the
    next run (a run does; ``run --dry-run`` writes nothing)."""
    header_problems: dict[str, list[str]] = {n: [] for n in project.spec.tables}
    headers = {
        name: _headers(project, config, name, table, header_problems[name])
        for name, table in project.spec.tables.items()
    }
    key = check_key(project, config, executor, headers)
    if passed_before(config, key):
        return
    problems: list[str] = [f"engine.executor: {p}" for p in store_problems(executor, config.store)]
    schemas = _Schemas()
    for name, table in project.spec.tables.items():
        problems += [
            f"tables.{name}.silver: {p}"
            for p in silver_problems(
                executor, name, table.silver.transforms, bool(table.silver.rules)
            )
        ]
        before = len(problems)
        problems += header_problems[name]
        columns = _check_source_table(
            project, executor, name, table, headers[name], problems, schemas
        )
        # the tables built from a table with mistakes are checked once those are fixed
        schemas.tables[name] = columns if len(problems) == before else None
        if len(problems) != before:
            schemas.labels[name] = None
    for name in project.order:
        if project.is_gold(name):
            gold = project.spec.gold[name]
            problems += [
                f"gold.{name}: {p}" for p in gold_problems(executor, name, gold.sql, gold.function)
            ]
            before = len(problems)
            columns = _check_gold(project, executor, name, schemas, problems)
            schemas.tables[name] = columns if len(problems) == before else None
            if len(problems) != before:
                schemas.labels[name] = None
    if problems:
        raise ProjectError(project.path, list(dict.fromkeys(problems)))
    if remember:
        remember_passed(config, key)


def _headers(
    project: Project, config: PipelineConfig, name: str, table: SourceTable, problems: list[str]
) -> list[tuple[Path, SourceHeader]] | None:
    """The header of each file of a source table; ``None`` when one cannot be read."""
    from jobforge.project.runner import source_files

    try:
        files = source_files(project, name)
    except ConfigError as exc:
        problems.append(str(exc))
        return None
    found = []
    for path in files:
        spec = SourceSpec(path, table.format, table.reader)
        try:
            claimed = config.plugins.source_reader(spec, config)
        except JobforgeError:
            return None  # the run reports it, naming the plugin
        if claimed is None:
            problems.append(
                f"tables.{name}.source: no reader for {path.name} "
                f"(format {spec.effective_format or 'unknown'}); supported formats: "
                f"{', '.join(config.plugins.source_formats())}"
            )
            return None
        try:
            header = source_header(claimed[0])
        except JobforgeError:
            return None  # a file that cannot be read: a failure of the run, not a mistake
        if header is None:
            return None
        found.append((path, header))
    return found


def _check_source_table(
    project: Project,
    executor: Executor,
    name: str,
    table: SourceTable,
    headers: list[tuple[Path, SourceHeader]] | None,
    problems: list[str],
    schemas: _Schemas,
) -> Columns | None:
    """Check one source table (``headers``: of its files, as :func:`_headers`
    read them); return its silver columns if they can be known."""
    where = f"tables.{name}"
    if not headers:
        return None
    complete = all(h.complete for _, h in headers)
    path, header = headers[0]
    source = _relative(project, path)
    for other_path, other in headers[1:]:
        if other.complete and header.complete and other.columns != header.columns:
            problems.append(
                f"{where}.source: {_relative(project, other_path)} has other columns than "
                f"{source} ({_listing(other.columns)} against {_listing(header.columns)})"
            )
    columns = list(dict.fromkeys(c for _, h in headers for c in h.columns))
    bronze = table.bronze
    known = f"the columns of {source}: {_listing(columns)}"
    if complete:
        for key, section in (("rename", bronze.rename), ("required", bronze.required)):
            for column in section:
                if column not in columns:
                    problems.append(f"{where}.bronze.{key}: {column!r} is not a column; {known}")
        if bronze.on_new_column == "fail":
            declared = bronze.declared_source_columns()
            new = [c for c in columns if c not in declared]
            if new:
                problems.append(
                    f"{where}.bronze.on_new_column: fail, but {source} has undeclared "
                    f"column(s) {_listing(new)}"
                )
    names = bronze.column_names(columns)
    for source_name, target in bronze.rename.items():
        if prov.is_provenance(target):
            problems.append(
                f"{where}.bronze.rename: {source_name!r} -> {target!r}: {target} is a "
                "provenance column's name (reserved)"
            )
    _check_unique(f"{where}.bronze", list(names.values()), problems)
    bronze_names = list(dict.fromkeys(names.values()))
    if complete:
        for column in bronze.cast:
            if column not in bronze_names:
                problems.append(
                    f"{where}.bronze.cast: {column!r} is not a bronze column; bronze columns "
                    f"(after renames): {_listing(bronze_names)}"
                )
    if not complete:
        return None
    silver_labels = _source_labels(name, table, columns, problems)
    types = bronze.column_types(dict.fromkeys(columns, "string"))
    silver = table.silver
    if isinstance(silver.dedupe, list):
        for key in silver.dedupe:
            if key not in types:
                problems.append(
                    f"{where}.silver.dedupe: {key!r} is not a bronze column; bronze columns: "
                    f"{_listing(bronze_names)}"
                )
    check_rule = getattr(executor, "check_rule", None)
    if check_rule is not None:
        with_provenance = {**types, **_PROVENANCE_TYPES}
        for index, rule in enumerate(silver.rules):
            wrong = check_rule(rule.expression, with_provenance)
            if wrong is not None:
                problems.append(
                    f"{where}.silver.rules.{index} ({rule.id}): {rule.expression!r} {_lower(wrong)}"
                    f"; bronze columns: {_listing(bronze_names)}"
                )
    if silver.transforms:
        return None  # a Python transform may change the columns
    schemas.labels[name] = silver_labels
    return {**types, **_PROVENANCE_TYPES}


def _source_labels(
    name: str, table: SourceTable, header: list[str], problems: list[str]
) -> InputLabels | None:
    """Follow a source table's labels through staged and bronze into silver (a
    silver without transforms passes every column on); report declared labels
    lower than the layer below gives. ``None`` when silver has transforms."""
    declaration = declaration_for(table)
    where = f"tables.{name}"
    staged_columns = [*header, *prov.STAGED_COLUMNS]
    staged = labels_after(
        f"staged.{name}",
        declaration,
        Computed(staged_lineage(staged_columns, {}), ()),
        staged_columns,
    )
    lineage = bronze_lineage(name, staged_columns, table.bronze)
    bronze_columns = list(lineage.columns)
    bronze = _step_labels(
        f"bronze.{name}", where, declaration, lineage, (staged,), bronze_columns, problems
    )
    if table.silver.transforms:
        return None
    passed = StepLineage(
        {
            c: (d if prov.is_provenance(c) else type(d)("identity", (f"bronze.{name}.{c}",)))
            for c, d in lineage.columns.items()
        }
    )
    return _step_labels(
        f"silver.{name}", where, declaration, passed, (bronze,), bronze_columns, problems
    )


def _step_labels(
    key: str,
    where: str,
    declaration: TableDeclaration,
    lineage: StepLineage,
    inputs: tuple[InputLabels, ...],
    columns: list[str],
    problems: list[str],
) -> InputLabels:
    computed = Computed(lineage, inputs)
    for problem in label_problems(declaration, computed, columns):
        problems.append(f"{where}.{problem.where}: {problem.message}")
    return labels_after(key, declaration, computed, columns)


def _check_gold(
    project: Project, executor: Executor, name: str, schemas: _Schemas, problems: list[str]
) -> Columns | None:
    gold = project.spec.gold[name]
    if gold.sql is None:
        _check_declared_sources(name, schemas, problems, project)
        return None
    inputs = {i: schemas.tables.get(i) for i in gold.inputs}
    if any(columns is None for columns in inputs.values()):
        return None
    describe = getattr(executor, "describe_gold", None)
    if describe is None:
        return None
    try:
        columns: Columns = describe(gold.sql, inputs)
    except ValueError as exc:
        message = f"gold.{name}.sql: {exc}"
        if "Binder Error" in str(exc):  # a name that is not there: say which are
            known = {
                table: [c for c in cols if not prov.is_provenance(c)] + [prov.LINEAGE]
                for table, cols in inputs.items()
                if cols is not None
            }
            message += "; the inputs' columns: " + "; ".join(
                f"{table}: {_listing(cols)}" for table, cols in known.items()
            )
        problems.append(message)
        return None
    if prov.LINEAGE not in columns:
        problems.append(
            f"gold.{name}.sql: the result has no {prov.LINEAGE} column (keep it from the inputs, "
            f"e.g. SELECT *, or a._lineage || b._lineage AS _lineage for a join)"
        )
    _check_unique(f"gold.{name}.sql", list(columns), problems)
    labels = [schemas.labels.get(i) for i in gold.inputs]
    if all(label is not None for label in labels):
        layers = {i: f"{'gold' if project.is_gold(i) else 'silver'}.{i}" for i in gold.inputs}
        lineage = sql_lineage(gold.sql, {t: list(c or {}) for t, c in inputs.items()}, layers)
        schemas.labels[name] = _step_labels(
            f"gold.{name}",
            f"gold.{name}",
            declaration_for(gold),
            lineage,
            tuple(label for label in labels if label is not None),
            list(columns),
            problems,
        )
    columns = {c: t for c, t in columns.items() if c not in (prov.LAYER, prov.PROCESSED_AT)}
    return {**columns, prov.LAYER: "string", prov.PROCESSED_AT: "datetime"}


def _check_declared_sources(
    name: str, schemas: _Schemas, problems: list[str], project: Project
) -> None:
    """``from = ["<input>.<column>", ...]`` of a gold function's columns: each an
    input of the table, and a column of it where its columns are known."""
    gold = project.spec.gold[name]
    for column, declared in gold.columns.items():
        for index, entry in enumerate(declared.sources or []):
            where = f"gold.{name}.columns.{column}.from.{index}"
            table, dot, source = entry.partition(".")
            if not dot or not source or table not in gold.inputs:
                problems.append(
                    f'{where}: {entry!r}: expected "<input table>.<column>" with one of the '
                    f"inputs {', '.join(gold.inputs)}"
                )
                continue
            known = schemas.tables.get(table)
            if known is not None and source not in known and source != prov.LINEAGE:
                data = [c for c in known if not prov.is_provenance(c)]
                problems.append(
                    f"{where}: {source!r} is not a column of {table}; its columns: {_listing(data)}"
                )


def _check_unique(where: str, names: list[str], problems: list[str]) -> None:
    """Two columns whose names are equal, or differ only in case (SQL and the
    query views do not tell ``A`` from ``a``)."""
    seen: dict[str, str] = {}
    for column in names:
        other = seen.get(column.lower())
        if other is None:
            seen[column.lower()] = column
        elif other == column:
            problems.append(f"{where}: two columns are named {column!r}")
        else:
            problems.append(
                f"{where}: columns {other!r} and {column!r} differ only in case (SQL does not "
                "tell them apart: rename one)"
            )


def _relative(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)


def _listing(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" ... ({len(columns)} in all)" if len(columns) > limit else "")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
