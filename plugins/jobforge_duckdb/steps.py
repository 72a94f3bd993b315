"""The staged, bronze and silver steps as DuckDB SQL: the same outputs, the same
quarantine and duplicates rows (with the same messages) as the polars executor."""

from __future__ import annotations

from datetime import datetime

import sqlglot
from sqlglot import exp

from jobforge.plugin import (
    ALL_COLUMNS,
    BATCH_ID,
    INGESTED_AT,
    LAYER,
    PROCESSED_AT,
    SOURCE_FILE,
    SOURCE_ROW,
    BronzeRequest,
    Carried,
    Constant,
    ContractError,
    SetApartValue,
    SilverRequest,
    StagedRequest,
    StepContext,
    StepOutcome,
    bronze_columns,
    cast_message_type,
    cast_terms,
    data_columns,
    duplicate_values,
    filtered_rows,
    first_line,
    quarantine_values,
    split_transforms,
    transform_kind,
    transform_name,
    typed_casts,
)
from jobforge_duckdb.dedupe import duplicate_rows, without
from jobforge_duckdb.session import Session, ident, json_row, lit, ts

_ORDER = f"ORDER BY {ident(SOURCE_ROW)}"


def _carry(ctx: StepContext, layer: str) -> list[str]:
    return [
        ident(SOURCE_FILE),
        ident(INGESTED_AT),
        ident(BATCH_ID),
        f"{lit(layer)} AS {ident(LAYER)}",
        ident(SOURCE_ROW),
        f"{ts(ctx.processed_at)} AS {ident(PROCESSED_AT)}",
    ]


_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "timestamp": "TIMESTAMPTZ"}


def _set_apart(values: dict[str, SetApartValue], given: dict[str, str]) -> str:
    """The select list of rows set apart (:func:`jobforge.plugin.quarantine_values`,
    :func:`~jobforge.plugin.duplicate_values`); ``given`` holds the step's own
    values (SQL expressions) by name."""
    terms = []
    for name, value in values.items():
        if isinstance(value, Carried):
            term = ident(value.column)
            term = term if value.type is None else f"CAST({term} AS {_TYPES[value.type]})"
        elif isinstance(value, Constant):
            if value.type == "timestamp":
                term = ts(value.value if isinstance(value.value, datetime) else None)
            elif value.value is None:
                term = f"CAST(NULL AS {_TYPES[value.type]})"
            else:
                term = lit(str(value.value))
        else:
            term = f"CAST({given[value.name]} AS {_TYPES[value.type]})"
        terms.append(f"{term} AS {ident(name)}")
    return ", ".join(terms)


def _quarantine(
    ctx: StepContext, layer: str, rule_id: str, column: str, message: str, row: str
) -> str:
    """The select list of quarantine rows."""
    given = {"rule_id": rule_id, "column": column, "message": message, "row": row}
    return _set_apart(quarantine_values(ctx, layer), given)


def _first(flags: list[tuple[str, str]]) -> str:
    """The label of the first true flag (``NULL`` if none)."""
    if not flags:
        return "CAST(NULL AS VARCHAR)"
    return "CASE " + " ".join(f"WHEN {f} THEN {lit(label)}" for f, label in flags) + " END"


def _all(flags: list[tuple[str, str]], separator: str) -> str:
    """The texts of every true flag, joined (texts are SQL expressions)."""
    if not flags:
        return "CAST(NULL AS VARCHAR)"
    parts = ", ".join(f"CASE WHEN {f} THEN {text} END" for f, text in flags)
    return f"concat_ws({lit(separator)}, {parts})"


def write_staged(session: Session, request: StagedRequest) -> StepOutcome:
    ctx, targets, pending = request.context, request.targets, request.pending
    records = session.arrow("jf_records", request.records())
    names = [n for n, _ in session.columns(records)]
    columns = [c for c in names if c != SOURCE_ROW]
    clash = sorted(set(columns) & ALL_COLUMNS)
    if clash:
        raise ContractError(
            f"{ctx.source_file}: source column(s) {', '.join(clash)} use names reserved "
            "for provenance"
        )
    stamps = [
        f"{lit(ctx.source_file)} AS {ident(SOURCE_FILE)}",
        f"{ts(ctx.ingested_at)} AS {ident(INGESTED_AT)}",
        f"{lit(ctx.batch_id)} AS {ident(BATCH_ID)}",
        f"'staged' AS {ident(LAYER)}",
    ]
    select = [*map(ident, columns), *stamps]
    select.append(f"CAST({ident(SOURCE_ROW)} AS BIGINT) AS {ident(SOURCE_ROW)}")
    with pending.sink_for(targets.data) as out_file:
        session.write_staged(f"SELECT {', '.join(select)} FROM {records}", out_file)
    rejected = request.rejected()
    if rejected is not None and targets.quarantine is not None:
        source = session.arrow("jf_rejected", rejected)
        stamped = f"SELECT *, {', '.join(stamps)} FROM {source}"
        body = _quarantine(
            ctx, "staged", "rule_id", "CAST(NULL AS VARCHAR)", "message", ident("row")
        )
        with pending.sink_for(targets.quarantine, drop_if_empty=True) as apart:
            session.write(f"SELECT {body} FROM ({stamped})", apart)
    out = pending.row_count(targets.data)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    return StepOutcome(rows_in=out + quarantined, rows_out=out, rows_quarantined=quarantined)


def write_bronze(session: Session, request: BronzeRequest) -> StepOutcome:
    ctx, targets, pending, schema = (
        request.context,
        request.targets,
        request.pending,
        request.schema,
    )
    staged = session.parquet("jf_staged", request.inputs)
    types = dict(session.columns(staged))
    data = data_columns(list(types))
    final = bronze_columns(schema, data, ctx.table)
    casts = typed_casts(schema, final)
    values: dict[int, str] = {}
    flags: list[tuple[str, str, str]] = []
    """(flag column, source column, bronze name)"""
    levels: tuple[list[str], list[str], list[str]] = ([], [], [])
    for i, source, spec in casts:
        terms = cast_terms(source, spec, types[source] == "VARCHAR", f"__jf{i}")
        for level, term in zip(levels, terms, strict=True):
            level.append(term)
        values[i] = f"__jf{i}_v"
        flags.append((f"__jf{i}_f", source, final[source]))
    cast = staged
    for level in levels:
        cast = f"(SELECT *{''.join(', ' + t for t in level)} FROM {cast})"
    failed_any = " OR ".join(f for f, _, _ in flags) or "false"
    good = [
        f"{values[i] if i in values else ident(source)} AS {ident(name)}"
        for i, (source, name) in enumerate(final.items())
    ]
    with pending.sink_for(targets.data) as out_file:
        session.write(
            f"SELECT {', '.join([*good, *_carry(ctx, 'bronze')])} FROM {cast} "
            f"WHERE NOT ({failed_any})",
            out_file,
        )
    out = pending.row_count(targets.data)
    (total,) = session.scalar_row(f"SELECT count(*) FROM {staged}")
    if flags and targets.quarantine is not None and out < int(total):  # type: ignore[call-overload]
        specs = {source: spec for _, source, spec in casts}
        described = [
            (
                f,
                f"{lit(name + ': cannot cast ')} || jf_repr(CAST({ident(src)} AS VARCHAR)) || "
                f"{lit(' to ' + cast_message_type(specs[src]))}",
            )
            for f, src, name in flags
        ]
        body = _quarantine(
            ctx,
            "bronze",
            _first([(f, f"cast:{name}") for f, _, name in flags]),
            _all([(f, lit(name)) for f, _, name in flags], ", "),
            _all(described, "; "),
            json_row(data, types),
        )
        with pending.sink_for(targets.quarantine, drop_if_empty=True) as apart:
            session.write(f"SELECT {body} FROM {cast} WHERE {failed_any}", apart)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    renames = [f"rename:{s}->{n}" for s, n in final.items() if s != n]
    return StepOutcome(
        rows_in=_rows_in(request, int(total)),  # type: ignore[call-overload]
        rows_out=out,
        rows_quarantined=quarantined,
        transforms_applied=renames + [f"cast:{final[src]}:{c.type}" for _, src, c in casts],
    )


def _rows_in(request: BronzeRequest | SilverRequest, counted: int) -> int:
    return counted if request.ledger.rows_in is None else request.ledger.rows_in


def rule_columns(expression: str) -> list[str]:
    """The columns a rule expression names, in order of appearance."""
    tree = sqlglot.parse_one(expression, read="duckdb")
    return list(dict.fromkeys(c.name for c in tree.find_all(exp.Column)))


def write_silver(session: Session, request: SilverRequest) -> StepOutcome:
    ctx, targets, pending, spec = request.context, request.targets, request.pending, request.spec
    where = f"silver {ctx.table}"
    transforms = spec.resolved_transforms()
    native, arrow = split_transforms(where, transforms)
    if native:
        raise ContractError(
            f"{where}: the duckdb executor runs arrow transforms only, not "
            f"{transform_name(native[0])} ({transform_kind(native[0])})"
        )
    bronze = session.parquet("jf_bronze", request.inputs)
    types = dict(session.columns(bronze))
    data = data_columns(list(types))
    rules = []
    for index, rule in enumerate(spec.rules):
        try:
            session.con.execute(f"SELECT ({rule.expression}) FROM {bronze} LIMIT 0")
        except Exception as exc:
            raise ContractError(
                f"silver {ctx.table}: rule {rule.id!r} ({rule.expression}) is not valid "
                f"here: {first_line(exc)}"
            ) from None
        rules.append((f"__jf_r{index}", rule))
    flags = "".join(f", coalesce(NOT ({r.expression}), false) AS {f}" for f, r in rules)
    flagged = f"SELECT *{flags} FROM {bronze}"
    errors = [(f, r) for f, r in rules if r.severity == "error"]
    warns = [(f, r) for f, r in rules if r.severity == "warn"]
    rejected = " OR ".join(f for f, _ in errors) or "false"
    any_warn = " OR ".join(f for f, _ in warns) or "false"
    counters = [f"count_if({f})" for f, _ in rules]
    counters += [
        "count(*)",
        f"count_if(NOT ({rejected}))",
        f"count_if(NOT ({rejected}) AND ({any_warn}))",
    ]
    totals = session.scalar_row(f"SELECT {', '.join(counters)} FROM ({flagged})")
    rule_totals = [int(v) for v in totals[: len(rules)]]  # type: ignore[call-overload]
    total, accepted, warned = (int(v) for v in totals[len(rules) :])  # type: ignore[call-overload]
    rows_in = _rows_in(request, total)
    counted = {r.id: n for (_, r), n in zip(rules, rule_totals, strict=True)}
    if total != rows_in:
        raise ContractError(
            f"silver {ctx.table}: read {total} rows from bronze, whose footers say {rows_in}"
        )
    if errors and targets.quarantine is not None and accepted < rows_in:
        body = _quarantine(
            ctx,
            "silver",
            _first([(f, r.id) for f, r in errors]),
            _all([(f, lit(", ".join(rule_columns(r.expression)))) for f, r in errors], "; "),
            _all([(f, lit(r.message or f"failed: {r.expression}")) for f, r in errors], "; "),
            json_row(data, types),
        )
        with pending.sink_for(targets.quarantine, drop_if_empty=True) as apart:
            session.write(f"SELECT {body} FROM ({flagged}) WHERE {rejected}", apart)
    kept = f"SELECT * FROM ({flagged}) WHERE NOT ({rejected})"
    if spec.dedupe == "none":
        keys: list[str] = []
    elif spec.dedupe == "row":
        keys = data
    else:
        keys = list(spec.dedupe)
        unknown = [k for k in keys if k not in data]
        if unknown:
            raise ContractError(
                f"silver {ctx.table}: dedupe key(s) {', '.join(map(repr, unknown))} are not columns"
            )
    dropped = duplicate_rows(session, kept, keys) if keys else None
    select = [*map(ident, data), *_carry(ctx, "silver")]
    with pending.sink_for(targets.data) as out_file:
        session.write(
            f"SELECT {', '.join(select)} FROM ({kept})",
            out_file,
            keep=None if dropped is None else without(session, dropped),
            transforms=arrow,
            where=where,
        )
    if dropped is not None and targets.duplicates is not None:
        given = {"row": json_row(data, types), "duplicate_of": "__jf_of"}
        with pending.sink_for(targets.duplicates, drop_if_empty=True) as apart:
            session.write(
                f"SELECT {_set_apart(duplicate_values(ctx), given)} FROM {dropped} {_ORDER}",
                apart,
            )
    out = pending.row_count(targets.data)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    duplicates = pending.row_count(targets.duplicates) if targets.duplicates else 0
    return StepOutcome(
        rows_in=rows_in,
        rows_out=out,
        rows_quarantined=quarantined,
        rows_deduplicated=duplicates,
        rows_filtered=filtered_rows(where, accepted - duplicates, out, bool(transforms)),
        rows_warned=warned,
        rule_counts={r.id: counted[r.id] for _, r in [*errors, *warns]},
        transforms_applied=(
            ([f"dedupe:{'row' if spec.dedupe == 'row' else ','.join(keys)}"] if keys else [])
            + [f"rule:{r.id}:{r.severity}" for r in spec.rules]
            + [f"transform:{transform_name(t)}" for t in transforms]
        ),
    )
