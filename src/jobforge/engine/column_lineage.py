"""The column lineage of each step, worked out by the engine from what the step
is declared to do: the reader's header mapping (staged), the bronze renames and
casts, silver's pass-through (and the plan of its transforms), the gold SQL
(:mod:`jobforge.sql`) or the plan of a gold function
(:mod:`jobforge.engine.plan_lineage`) and the project's ``from`` declarations.

Nothing here depends on the executor that runs the step, and nothing reads
data: the inputs' columns come from their parquet footers. What cannot be
known is ``unknown``, never guessed (see docs/provenance.md, "Column lineage").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jobforge import provenance as prov
from jobforge.catalog.declarations import TableDeclaration
from jobforge.catalog.derivation import Derivation, StepLineage, unique
from jobforge.engine.lineage_memo import remembered
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec, transform_name
from jobforge.errors import ConfigError, SqlError
from jobforge.storage import literal

if TYPE_CHECKING:  # polars is imported when a plan is read, not with this module
    import polars as pl

_STAMPED = (prov.LAYER, prov.PROCESSED_AT)
"""Provenance columns every promotion sets anew."""
_CARRIED = (prov.SOURCE_FILE, prov.INGESTED_AT, prov.BATCH_ID, prov.SOURCE_ROW)
"""Provenance columns bronze and silver carry from the layer below."""


def input_columns(paths: Sequence[Path]) -> list[str]:
    """The columns of a table version, from the footer of its first file."""
    return list(literal.read_schema(paths[0]).names) if paths else []


def staged_lineage(columns: Sequence[str], header_mapping: Mapping[str, str]) -> StepLineage:
    """Staged columns point at the source file's header: the same name, or (where
    the reader had to change an empty or repeated name, ``header_mapping``
    ``"<position>:<header>" -> name``) the header it stands for."""
    renamed = {new: key for key, new in header_mapping.items()}
    lineage: dict[str, Derivation] = {}
    for name in columns:
        if prov.is_provenance(name):
            lineage[name] = Derivation("literal")
        elif name in renamed:
            position, _, header = renamed[name].partition(":")
            lineage[name] = Derivation("rename", (header,), f"header column {position}")
        else:
            lineage[name] = Derivation("identity", (name,))
    for name in prov.STAGED_COLUMNS:
        lineage.setdefault(name, Derivation("literal"))
    return StepLineage(lineage)


def bronze_lineage(table: str, staged_columns: Sequence[str], schema: BronzeSchema) -> StepLineage:
    """Bronze: each staged column under its bronze name, cast where declared."""
    data = prov.data_columns(list(staged_columns))
    lineage: dict[str, Derivation] = {}
    for source, name in schema.column_names(data).items():
        steps = [f"rename:{source}->{name}"] if source != name else []
        spec = schema.cast.get(name)
        kind = "identity" if source == name else "rename"
        if spec is not None and spec.type != "string":
            kind = "cast"
            steps.append(f"cast:{name}:{spec.type}" + (f" ({spec.format})" if spec.format else ""))
        lineage[name] = Derivation(kind, (f"staged.{table}.{source}",), "; ".join(steps) or None)  # type: ignore[arg-type]
    return StepLineage({**lineage, **_provenance("staged", table)})


def silver_lineage(table: str, bronze_files: Sequence[Path], spec: SilverSpec) -> StepLineage:
    """Silver: every bronze column passed through; with transforms, what their
    polars plan says (a column a transform changed or made is ``transform``;
    an unreadable plan leaves every column ``unknown``)."""
    columns = input_columns(bronze_files)
    if not spec.transforms:
        data = {
            c: Derivation("identity", (f"bronze.{table}.{c}",)) for c in prov.data_columns(columns)
        }
        return StepLineage({**data, **_provenance("bronze", table)})
    import polars as pl

    from jobforge.engine.plan_lineage import read_plan

    names = ", ".join(transform_name(t) for t in spec.transforms)
    try:
        frame = literal.scan_parquet(list(bronze_files), n_rows=0)
        result = frame
        for transform in spec.resolved_transforms():
            result = transform(result)
        plan = (
            read_plan(result, {table: (frame, f"bronze.{table}")})
            if isinstance(result, pl.LazyFrame)
            else None
        )
    except Exception:  # the step itself reports what is wrong with a transform
        plan = None
    if plan is None:
        reason = f"the polars plan of the transforms ({names}) could not be read"
        return StepLineage(_provenance("bronze", table), Derivation("unknown", (), reason))
    lineage: dict[str, Derivation] = {}
    for name, found in plan.items():
        if prov.is_provenance(name):
            continue
        own = (f"bronze.{table}.{name}",)
        if found.kind == "identity" and found.sources == own:
            lineage[name] = found
        else:
            text = f"{names}: {found.expression}" if found.expression else names
            lineage[name] = Derivation("transform", found.sources, text)
    return StepLineage({**lineage, **_provenance("bronze", table)})


def gold_lineage(
    spec: GoldSpec,
    inputs: Mapping[str, Sequence[Path]],
    upstream: Sequence[str],
    declaration: TableDeclaration | None,
    memo: Path | None = None,
) -> StepLineage:
    """Gold: the SQL's lineage, or the function's plan, else the declared
    ``from`` of each column, else ``unknown``. ``upstream``: ``layer.table`` of
    each input, in the order of ``inputs``; ``memo``: the table's
    :func:`jobforge.engine.lineage_memo.memo_file` (the SQL's lineage is kept
    there, and taken from there for the same SQL over the same columns)."""
    layers = {key.partition(".")[2]: key for key in upstream}
    if spec.sql is not None:
        columns = {name: input_columns(paths) for name, paths in inputs.items()}
        lineage = remembered(memo, spec.sql, columns, layers, sql_lineage)
    else:
        lineage = _function_lineage(spec, inputs, layers, declaration)
    for name in _STAMPED:
        lineage.columns[name] = Derivation("literal")
    return lineage


def sql_lineage(
    sql: str, columns: Mapping[str, Sequence[str]], layers: Mapping[str, str]
) -> StepLineage:
    """The lineage of gold SQL over inputs with these ``columns`` (by input name);
    ``layers``: input name -> ``layer.table``. SQL whose lineage cannot be read
    leaves every column ``unknown``, with the reason."""
    from jobforge.sql import analyse_query

    try:
        analysed = analyse_query(sql, columns)
    except SqlError as exc:
        # recorded as not known, with the reason; the step itself runs or fails on its own
        reason = f"lineage not read from the SQL: {exc}"
        return StepLineage({}, Derivation("unknown", (), reason))
    lookup = {name.lower(): key for name, key in layers.items()}
    return StepLineage(
        {
            name: Derivation(
                found.kind.value,
                unique(
                    f"{lookup.get(s.table.lower(), s.table)}.{s.column}"
                    for s in sorted(found.sources)
                ),
                found.expression,
            )
            for name, found in analysed.columns.items()
        }
    )


def _function_lineage(
    spec: GoldSpec,
    inputs: Mapping[str, Sequence[Path]],
    layers: Mapping[str, str],
    declaration: TableDeclaration | None,
) -> StepLineage:
    declared = declared_sources(spec, layers, declaration)
    plan = _read_function_plan(spec, inputs, layers)
    lineage: dict[str, Derivation] = {}
    if plan is not None:
        for name, found in plan.items():
            if name in declared and set(declared[name]) != set(found.sources):
                raise ConfigError(
                    f"gold {spec.name}: column {name!r} is declared from "
                    f"{', '.join(declared[name]) or 'nothing'}, but the function computes it "
                    f"from {', '.join(found.sources) or 'no input column'} (its polars plan)"
                )
            lineage[name] = found
        return StepLineage(lineage)
    for name, sources in declared.items():
        lineage[name] = Derivation("declared", sources)
    reason = "the function's polars plan could not be read and no from is declared"
    return StepLineage(lineage, Derivation("unknown", (), reason))


def declared_sources(
    spec: GoldSpec, layers: Mapping[str, str], declaration: TableDeclaration | None
) -> dict[str, tuple[str, ...]]:
    """The ``from`` of each declared column, qualified with its input's layer; an
    entry that names no input is a :class:`ConfigError`."""
    found: dict[str, tuple[str, ...]] = {}
    for name, column in (declaration.columns if declaration else {}).items():
        if column.sources is None:
            continue
        qualified = []
        for entry in column.sources:
            table, dot, col = entry.partition(".")
            if not dot or not col or table not in layers:
                raise ConfigError(
                    f"gold {spec.name}: column {name!r} from {entry!r}: expected "
                    f'"<input table>.<column>" with one of the inputs {", ".join(layers)}'
                )
            qualified.append(f"{layers[table]}.{col}")
        found[name] = unique(qualified)
    return found


def _read_function_plan(
    spec: GoldSpec, inputs: Mapping[str, Sequence[Path]], layers: Mapping[str, str]
) -> dict[str, Derivation] | None:
    """Call the gold function on frames that read no rows and read its plan."""
    import polars as pl

    from jobforge.engine.plan_lineage import read_plan

    frames: dict[str, tuple[pl.LazyFrame, str]] = {}
    try:
        for name, paths in inputs.items():
            frame = literal.scan_parquet(list(paths), n_rows=0)
            if prov.LINEAGE not in frame.collect_schema().names():
                frame = frame.with_columns(
                    pl.lit(None, dtype=pl.List(pl.String)).alias(prov.LINEAGE)
                )
            frames[name] = (frame, layers[name])
        result = spec.resolved_function()({n: f for n, (f, _) in frames.items()})
    except Exception:  # the step itself reports what is wrong with the function
        return None
    if not isinstance(result, pl.LazyFrame):
        return None  # a collected frame has no plan left to read
    return read_plan(result, frames)


def _provenance(layer: str, table: str) -> dict[str, Derivation]:
    carried = {c: Derivation("identity", (f"{layer}.{table}.{c}",)) for c in _CARRIED}
    return {**carried, **{c: Derivation("literal") for c in _STAMPED}}
