"""The bundled execution engine: polars lazy frames and streaming parquet sinks.

Every output (data, quarantine, duplicates) is written by its own streaming
plan with one sink: two sinks fed by one plan make polars hold rows for the
slower one, and reading an input parquet file again is cheap (a filter on a
few columns decodes the others only for the rows it keeps). Memory stays flat
in the number of rows: silver de-duplicates by a row hash, comparing only the
candidate rows in full (see ``PolarsExecutor._duplicate_rows``). Row counts
are taken from the written files' parquet footers. See docs/performance.md.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from jobforge.engine import provenance as prov
from jobforge.engine.executor import (
    DUPLICATE_COLUMNS,
    QUARANTINE_COLUMNS,
    StagedContext,
    StepContext,
    StepOutcome,
    StepTargets,
)
from jobforge.engine.steps import (
    BronzeSchema,
    CastSpec,
    GoldSpec,
    Rule,
    SilverSpec,
    transform_name,
)
from jobforge.errors import ContractError
from jobforge.sources.base import ReadResult
from jobforge.storage.atomic import temporary_path_for
from jobforge.storage.pending import PendingFiles

UTC_US = pl.Datetime("us", "UTC")
# zstd level 1: files as small as polars' default level here, written faster.
_WRITE = {"compression": "zstd", "compression_level": 1}
_SINK = {**_WRITE, "lazy": True}
_HASH_SEED = 0x6A6F62666F726765
_HASHES_PER_PASS = 4_000_000
"""De-duplication sorts at most this many row hashes at a time (32 MiB)."""
_CANDIDATES_PER_PASS = 1_000_000
"""... and compares at most this many candidate rows at a time."""
_MORSEL_ROWS = 10_000
_MORSEL_BYTES = 2 << 20


def _is_one_of(rows: pl.DataFrame) -> pl.Expr:
    """True for the rows named in ``rows`` (``_batch_id``, ``_source_row``)."""
    found = pl.lit(False)
    for (batch,), group in rows.group_by(prov.BATCH_ID, maintain_order=True):
        found = found | (
            (pl.col(prov.BATCH_ID) == batch)
            & pl.col(prov.SOURCE_ROW).is_in(group.get_column(prov.SOURCE_ROW).implode())
        )
    return found


def _repeated_hashes(hashes: Path) -> pl.Series:
    """The values of ``__jf_h`` that occur more than once in the file ``hashes``,
    sorting at most :data:`_HASHES_PER_PASS` of them at a time."""
    rows = pl.scan_parquet(hashes).select(pl.len()).collect().item()
    passes = max(1, math.ceil(rows / _HASHES_PER_PASS))
    repeated: list[pl.Series] = []
    for part in range(passes):
        scan = pl.scan_parquet(hashes).select("__jf_h")
        if passes > 1:
            scan = scan.filter(pl.col("__jf_h") % passes == part)
        values = scan.collect().get_column("__jf_h").sort()
        repeated.append(values.filter(values == values.shift(1)).unique())
    return pl.concat(repeated)


def _streaming(inputs: list[Path]) -> pl.Config:
    """Run a step's plans with morsels of at most :data:`_MORSEL_ROWS` rows and
    about :data:`_MORSEL_BYTES` (from the inputs' footers). polars' default
    (about 100 000 rows) lets a long streaming run hold twice the memory while
    it reads faster than it writes; smaller morsels cost no measurable time."""
    rows = size = 0
    for path in inputs:
        meta = pq.read_metadata(path)
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    per_row = max(1, size // max(rows, 1))
    return pl.Config(streaming_chunk_size=max(1_000, min(_MORSEL_ROWS, _MORSEL_BYTES // per_row)))


def _row_hash(keys: list[str]) -> pl.Expr:
    """``__jf_h``: a 64-bit hash of a row's ``keys`` (the xor of each column's
    hash, seeded by position: cheaper than hashing a struct). Equal rows hash
    alike (floats as polars compares them: -0.0 as 0.0, every NaN alike); a
    collision only costs a comparison."""
    combined = column(keys[0]).hash(_HASH_SEED)
    for i, key in enumerate(keys[1:], start=1):
        combined = combined ^ column(key).hash(_HASH_SEED + i)
    return combined.alias("__jf_h")


def column(name: str) -> pl.Expr:
    """The column called ``name``, whatever it is called.

    ``pl.col`` reads ``"*"`` as every column and ``"^...$"`` as a regular
    expression; source headers may be exactly that, so data columns are always
    selected through an anchored, escaped pattern.
    """
    return pl.col(f"^{re.escape(name)}$")


def _ts(value: object) -> pl.Expr:
    return pl.lit(value, dtype=UTC_US)


def snake_case(name: str) -> str:
    """``"Code - NOC 2021 V1.0"`` -> ``"code_noc_2021_v1_0"``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    name = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    return name or "column"


def _json_row(columns: list[str]) -> pl.Expr:
    if not columns:
        return pl.lit("{}")
    return pl.struct([column(c) for c in columns]).struct.json_encode()


def _first_true(flags: list[tuple[pl.Expr, str]]) -> pl.Expr:
    if not flags:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(flag).then(pl.lit(label)) for flag, label in flags])


def _all_true(flags: list[tuple[pl.Expr, pl.Expr]], separator: str) -> pl.Expr:
    if not flags:
        return pl.lit(None, dtype=pl.String)
    return pl.concat_str(
        [pl.when(flag).then(text) for flag, text in flags], separator=separator, ignore_nulls=True
    )


def _quarantine_frame(
    frame: pl.LazyFrame,
    *,
    layer: str,
    ctx: StepContext,
    rule_id: pl.Expr,
    column: pl.Expr,
    message: pl.Expr,
    row: pl.Expr,
    severity: str = "error",
) -> pl.LazyFrame:
    return frame.select(
        pl.col(prov.SOURCE_FILE),
        pl.col(prov.INGESTED_AT),
        pl.col(prov.BATCH_ID),
        pl.col(prov.SOURCE_ROW).cast(pl.Int64),
        pl.lit(layer).alias("layer"),
        pl.lit(ctx.table).alias("table_name"),
        rule_id.cast(pl.String).alias("rule_id"),
        column.cast(pl.String).alias("column"),
        message.cast(pl.String).alias("message"),
        pl.lit(severity).alias("severity"),
        row.alias("row"),
        _ts(ctx.processed_at).alias("quarantined_at"),
    ).select(QUARANTINE_COLUMNS)


_TARGETS: dict[str, pl.DataType] = {
    "string": pl.String,
    "int": pl.Int64,
    "float": pl.Float64,
    "bool": pl.Boolean,
    "date": pl.Date,
    "datetime": UTC_US,
}


def _considered(text: pl.Expr, spec: CastSpec) -> pl.Expr:
    """True where stripped text holds a value to cast: not empty, not one of the
    spec's null values (null where the text is null)."""
    considered = text != ""
    if spec.null_values:
        considered = considered & ~text.is_in(list(spec.null_values))
    return considered


def _parse_text(text: pl.Expr, spec: CastSpec) -> pl.Expr:
    """The typed value of stripped text, null where it does not parse (empty text
    included, unless a bool spec lists ``""``: see :func:`_cast_columns`)."""
    if spec.type in ("int", "float"):
        number = text
        if spec.thousands:
            number = number.str.replace_all(spec.thousands, "", literal=True)
        if spec.decimal != ".":
            number = number.str.replace_all(spec.decimal, ".", literal=True)
        return number.cast(_TARGETS[spec.type], strict=False)
    if spec.type == "bool":
        lower = text.str.to_lowercase()
        return (
            pl.when(lower.is_in(list(spec.true_values)))
            .then(True)
            .when(lower.is_in(list(spec.false_values)))
            .then(False)
            .otherwise(None)
        )
    if spec.type == "date":
        return text.str.strptime(pl.Date, spec.format or "%Y-%m-%d", strict=False)
    return text.str.to_datetime(spec.format, strict=False, time_unit="us")


def _direct_first(spec: CastSpec) -> bool:
    """Whether a value that parses as it is needs no stripping: numbers without
    separators or null values, and ISO dates (polars parses neither a number
    with surrounding spaces nor a date differently with them)."""
    if spec.null_values:
        return False
    if spec.type in ("int", "float"):
        return spec.thousands is None and spec.decimal == "."
    return spec.type == "date" and spec.format is None


def _cast_columns(
    frame: pl.LazyFrame, casts: list[tuple[int, str, CastSpec]], types: pl.Schema
) -> pl.LazyFrame:
    """``frame`` with ``__jf_v<i>`` (the typed value) and ``__jf_f<i>`` (true where
    a value was there but did not cast) for each ``(i, source column, spec)``.

    Text is stripped of surrounding spaces; empty text and the spec's null values
    become null, not a failure. The stripped text and the values are computed
    once each, in steps, so no expression is evaluated twice. Where
    :func:`_direct_first` allows, the text is parsed as it is first and only
    the texts that do not parse are stripped (``__jf_t<i>`` is null elsewhere).
    """
    text_casts = [(i, c, spec) for i, c, spec in casts if types[c] == pl.String]
    direct = [(i, c, spec) for i, c, spec in text_casts if _direct_first(spec)]
    direct_index = {i for i, _, _ in direct}
    stripped = [
        (
            pl.when(pl.col(f"__jf_d{i}").is_null()).then(column(c))
            if i in direct_index
            else column(c)
        )
        .str.strip_chars()
        .alias(f"__jf_t{i}")
        for i, c, _ in text_casts
    ]
    values: list[pl.Expr] = []
    for i, c, spec in casts:
        if types[c] != pl.String:
            values.append(column(c).cast(_TARGETS[spec.type], strict=False).alias(f"__jf_v{i}"))
            continue
        text = pl.col(f"__jf_t{i}")
        empty_parses = spec.type == "bool" and "" in (*spec.true_values, *spec.false_values)
        if i in direct_index:
            value = pl.coalesce(pl.col(f"__jf_d{i}"), _parse_text(text, spec))
        elif spec.type == "datetime":
            # Without a format polars infers one from the first value: only
            # considered text may take part.
            value = _parse_text(pl.when(_considered(text, spec)).then(text), spec)
        elif spec.null_values or empty_parses:
            value = pl.when(_considered(text, spec)).then(_parse_text(text, spec))
        else:
            value = _parse_text(text, spec)
        values.append(value.alias(f"__jf_v{i}"))
    flags: list[pl.Expr] = []
    for i, c, spec in casts:
        if types[c] != pl.String:
            there = column(c).is_not_null()
        else:
            there = _considered(pl.col(f"__jf_t{i}"), spec).fill_null(False)
        flags.append((there & pl.col(f"__jf_v{i}").is_null()).alias(f"__jf_f{i}"))
    if direct:
        frame = frame.with_columns(
            _parse_text(column(c), spec).alias(f"__jf_d{i}") for i, c, spec in direct
        )
    if stripped:
        frame = frame.with_columns(stripped)
    return frame.with_columns(values).with_columns(flags)


class PolarsExecutor:
    """Runs layer steps as polars lazy plans with streaming parquet sinks."""

    name = "polars"

    # -- staged --------------------------------------------------------------------
    def write_staged(
        self, read: ReadResult, targets: StepTargets, ctx: StagedContext, pending: PendingFiles
    ) -> StepOutcome:
        names = read.frame.collect_schema().names()
        columns = [c for c in names if c != prov.SOURCE_ROW]
        clash = sorted(set(columns) & prov.ALL_COLUMNS)
        if clash:
            raise ContractError(
                f"{ctx.source_file}: source column(s) {', '.join(clash)} use names reserved "
                "for provenance"
            )
        stamps = [
            pl.lit(ctx.source_file).alias(prov.SOURCE_FILE),
            _ts(ctx.ingested_at).alias(prov.INGESTED_AT),
            pl.lit(ctx.batch_id).alias(prov.BATCH_ID),
            pl.lit("staged").alias(prov.LAYER),
        ]
        # Source columns by position: pl.col("*") or pl.col("^a.*$") would be
        # read as a wildcard or a regex, and a source header may be anything.
        positions = [i for i, c in enumerate(names) if c != prov.SOURCE_ROW]
        data = [pl.nth(positions)] if positions else []
        staged = read.frame.select(*data, *stamps, pl.col(prov.SOURCE_ROW).cast(pl.Int64))
        queries = [staged.sink_parquet(pending.temp_for(targets.data), **_SINK)]
        if read.rejected is not None and targets.quarantine is not None:
            rejected = read.rejected.with_columns(*stamps)
            queries.append(
                _quarantine_frame(
                    rejected,
                    layer="staged",
                    ctx=ctx,
                    rule_id=pl.col("rule_id"),
                    column=pl.lit(None, dtype=pl.String),
                    message=pl.col("message"),
                    row=pl.col("row"),
                ).sink_parquet(pending.temp_for(targets.quarantine, drop_if_empty=True), **_SINK)
            )
        pl.collect_all(queries)
        out = pending.row_count(targets.data)
        quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
        return StepOutcome(
            rows_in=out + quarantined,
            rows_out=out,
            rows_quarantined=quarantined,
            source_columns={c: [c] for c in columns},
        )

    # -- bronze ----------------------------------------------------------------------
    def write_bronze(
        self,
        inputs: list[Path],
        rows_in: int,
        schema: BronzeSchema,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        with _streaming(inputs):
            return self._write_bronze(inputs, rows_in, schema, targets, ctx, pending)

    def _write_bronze(
        self,
        inputs: list[Path],
        rows_in: int,
        schema: BronzeSchema,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        frame = pl.scan_parquet(inputs)
        types = frame.collect_schema()
        data = prov.data_columns(list(types.names()))
        missing = [c for c in [*schema.required, *schema.rename] if c not in data]
        if missing:
            raise ContractError(
                f"bronze {ctx.table}: missing source column(s) "
                f"{', '.join(repr(m) for m in dict.fromkeys(missing))}"
            )
        if schema.on_new_column == "fail":
            declared = schema.declared_source_columns()
            new = [c for c in data if c not in declared]
            if new:
                raise ContractError(
                    f"bronze {ctx.table}: new source column(s) {', '.join(map(repr, new))} "
                    "not declared (on_new_column = fail)"
                )
        final = {c: schema.rename.get(c, c) for c in data}
        if schema.snake_case:
            final = {c: snake_case(n) for c, n in final.items()}
        seen: dict[str, str] = {}
        for source, name in final.items():
            if name in seen:
                raise ContractError(
                    f"bronze {ctx.table}: columns {seen[name]!r} and {source!r} both "
                    f"become {name!r}"
                )
            seen[name] = source
        unknown = [c for c in schema.cast if c not in seen]
        if unknown:
            raise ContractError(
                f"bronze {ctx.table}: cast names unknown column(s) {', '.join(map(repr, unknown))}"
            )
        casts = [
            (index, source, schema.cast[name])
            for index, (source, name) in enumerate(final.items())
            if name in schema.cast and schema.cast[name].type != "string"
        ]
        flags = [(f"__jf_f{i}", source, spec) for i, source, spec in casts]
        staged = _cast_columns(frame, casts, types)
        cast_index = {i for i, _, _ in casts}
        failed = pl.any_horizontal([pl.col(f) for f, _, _ in flags]) if flags else pl.lit(False)
        good = staged.filter(~failed).select(
            *[
                (pl.col(f"__jf_v{i}") if i in cast_index else column(source)).alias(name)
                for i, (source, name) in enumerate(final.items())
            ],
            *self._carry(ctx, "bronze"),
        )
        # The data alone in the main plan (a second sink costs every row a fan
        # out); the rows that failed, if any, are found again by a second pass.
        good.sink_parquet(pending.temp_for(targets.data), **_WRITE)
        out = pending.row_count(targets.data)
        total = int(frame.select(pl.len()).collect().item())
        if flags and targets.quarantine is not None and out < total:
            bad = staged.filter(failed)
            described = [
                (
                    pl.col(f),
                    pl.format(
                        "{}: cannot cast {} to {}",
                        pl.lit(final[src]),
                        column(src)
                        .cast(pl.String)
                        .map_batches(
                            lambda s: s.map_elements(repr, return_dtype=pl.String),
                            return_dtype=pl.String,
                            is_elementwise=True,
                        ),
                        pl.lit(spec.type + (f" ({spec.format})" if spec.format else "")),
                    ),
                )
                for f, src, spec in flags
            ]
            _quarantine_frame(
                bad,
                layer="bronze",
                ctx=ctx,
                rule_id=_first_true([(pl.col(f), f"cast:{final[src]}") for f, src, _ in flags]),
                column=_all_true([(pl.col(f), pl.lit(final[src])) for f, src, _ in flags], ", "),
                message=_all_true(described, "; "),
                row=_json_row(data),
            ).sink_parquet(pending.temp_for(targets.quarantine, drop_if_empty=True), **_WRITE)
        quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
        casts = [f"cast:{final[src]}:{spec.type}" for _, src, spec in flags]
        renames = [f"rename:{s}->{n}" for s, n in final.items() if s != n]
        return StepOutcome(
            rows_in=rows_in,
            rows_out=out,
            rows_quarantined=quarantined,
            transforms_applied=renames + casts,
            source_columns={n: [s] for s, n in final.items()},
        )

    @staticmethod
    def _carry(ctx: StepContext, layer: str) -> list[pl.Expr]:
        return [
            pl.col(prov.SOURCE_FILE),
            pl.col(prov.INGESTED_AT),
            pl.col(prov.BATCH_ID),
            pl.lit(layer).alias(prov.LAYER),
            pl.col(prov.SOURCE_ROW),
            _ts(ctx.processed_at).alias(prov.PROCESSED_AT),
        ]

    # -- silver ----------------------------------------------------------------------
    def write_silver(
        self,
        inputs: list[Path],
        rows_in: int,
        spec: SilverSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        with _streaming(inputs):
            return self._write_silver(inputs, rows_in, spec, targets, ctx, pending)

    def _write_silver(
        self,
        inputs: list[Path],
        rows_in: int,
        spec: SilverSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        frame = pl.scan_parquet(inputs)
        names = list(frame.collect_schema().names())
        data = prov.data_columns(names)
        failures: list[tuple[pl.Expr, Rule]] = []
        for rule in spec.rules:
            try:
                expr = pl.sql_expr(rule.expression)
                frame.select(expr).collect_schema()
            except Exception as exc:
                raise ContractError(
                    f"silver {ctx.table}: rule {rule.id!r} ({rule.expression}) is not valid "
                    f"here: {str(exc).splitlines()[0]}"
                ) from None
            failures.append(((~expr).fill_null(False), rule))
        errors = [(f, r) for f, r in failures if r.severity == "error"]
        warns = [(f, r) for f, r in failures if r.severity == "warn"]
        rejected = pl.any_horizontal([f for f, _ in errors]) if errors else pl.lit(False)
        any_warn = pl.any_horizontal([f for f, _ in warns]) if warns else pl.lit(False)

        if spec.dedupe == "none":
            keys: list[str] = []
        elif spec.dedupe == "row":
            keys = data
        else:
            keys = list(spec.dedupe)
            unknown = [k for k in keys if k not in data]
            if unknown:
                raise ContractError(
                    f"silver {ctx.table}: dedupe key(s) {', '.join(map(repr, unknown))} "
                    "are not columns"
                )
        # Each output is its own streaming plan: two outputs of one plan make
        # polars hold rows for the slower one (twice the memory or more), while
        # reading bronze again costs little. The counters read the rules'
        # columns only.
        counters = [f.sum().alias(r.id) for f, r in failures]
        counters += [
            pl.len().alias("__jf_total"),
            # len - rejected, not (~rejected).sum(): without error rules `rejected`
            # is a literal, and the sum of a literal is not a row count.
            (pl.len() - rejected.cast(pl.Int64).sum()).alias("__jf_accepted"),
            (~rejected & any_warn).sum().alias("__jf_warned"),
        ]
        totals = frame.select(counters).collect().row(0, named=True)
        if int(totals["__jf_total"]) != rows_in:
            raise ContractError(
                f"silver {ctx.table}: read {totals['__jf_total']} rows from bronze, whose "
                f"footers say {rows_in}"
            )
        if errors and targets.quarantine is not None and int(totals["__jf_accepted"]) < rows_in:
            _quarantine_frame(
                frame.filter(rejected),
                layer="silver",
                ctx=ctx,
                rule_id=_first_true([(f, r.id) for f, r in errors]),
                column=_all_true(
                    [
                        (
                            f,
                            pl.lit(
                                ", ".join(
                                    dict.fromkeys(pl.sql_expr(r.expression).meta.root_names())
                                )
                            ),
                        )
                        for f, r in errors
                    ],
                    "; ",
                ),
                message=_all_true(
                    [(f, pl.lit(r.message or f"failed: {r.expression}")) for f, r in errors],
                    "; ",
                ),
                row=_json_row(data),
            ).sink_parquet(pending.temp_for(targets.quarantine, drop_if_empty=True), **_WRITE)
        kept = frame.filter(~rejected)
        dropped, dropped_rows = (
            self._duplicate_rows(kept, keys, data, targets.data) if keys else (None, None)
        )
        duplicate = _is_one_of(dropped) if dropped is not None and dropped.height else None
        unique = kept if duplicate is None else kept.filter(~duplicate)
        transforms = spec.resolved_transforms()
        result = unique.select(*[column(c) for c in data], *self._carry(ctx, "silver"))
        for transform in transforms:
            result = transform(result)
            if not isinstance(result, pl.LazyFrame):
                raise ContractError(
                    f"silver {ctx.table}: transform {transform_name(transform)} returned "
                    f"{type(result).__name__}, expected a polars LazyFrame"
                )
        lost = [c for c in prov.LAYER_COLUMNS if c not in result.collect_schema().names()]
        if lost:
            raise ContractError(
                f"silver {ctx.table}: transforms dropped provenance column(s) {', '.join(lost)}"
            )
        result.sink_parquet(pending.temp_for(targets.data), **_WRITE)
        if duplicate is not None and targets.duplicates is not None:
            # The dropped rows as read while comparing candidates, else read again.
            source = kept.filter(duplicate) if dropped_rows is None else dropped_rows.lazy()
            source.select(
                pl.col(prov.SOURCE_FILE),
                pl.col(prov.INGESTED_AT),
                pl.col(prov.BATCH_ID),
                pl.col(prov.SOURCE_ROW),
                pl.lit(ctx.table).alias("table_name"),
                _json_row(data).alias("row"),
                _ts(ctx.processed_at).alias("deduplicated_at"),
            ).select(DUPLICATE_COLUMNS).sink_parquet(
                pending.temp_for(targets.duplicates, drop_if_empty=True), **_WRITE
            )
        out = pending.row_count(targets.data)
        quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
        duplicates = pending.row_count(targets.duplicates) if targets.duplicates else 0
        unique_rows = int(totals["__jf_accepted"]) - duplicates
        filtered = unique_rows - out if transforms else 0
        if filtered < 0:
            raise ContractError(
                f"silver {ctx.table}: transforms turned {unique_rows} rows into {out}; a silver "
                "transform may drop or change rows but not add them (build new rows in gold)"
            )
        return StepOutcome(
            rows_in=rows_in,
            rows_out=out,
            rows_quarantined=quarantined,
            rows_deduplicated=duplicates,
            rows_filtered=filtered,
            rows_warned=int(totals["__jf_warned"] or 0),
            rule_counts={r.id: int(totals[r.id] or 0) for _, r in [*errors, *warns]},
            transforms_applied=(
                ([f"dedupe:{'row' if spec.dedupe == 'row' else ','.join(keys)}"] if keys else [])
                + [f"rule:{r.id}:{r.severity}" for r in spec.rules]
                + [f"transform:{transform_name(t)}" for t in transforms]
            ),
            source_columns={c: [c] for c in data},
        )

    @staticmethod
    def _duplicate_rows(
        kept: pl.LazyFrame, keys: list[str], data: list[str], near: Path
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """``_batch_id`` and ``_source_row`` of the rows of ``kept`` equal on
        ``keys`` to an earlier row (those two name a row of a layer), and, when
        the candidates were compared in one pass, those rows themselves (their
        provenance and ``data`` columns; ``None`` otherwise).

        Exact, without holding every row. A 64-bit hash of each kept row's keys
        (:func:`_row_hash`) is written with the row's name to a temporary file
        beside ``near`` (removed before returning). Hash values seen more than
        once are found by sorting at most :data:`_HASHES_PER_PASS` hashes at a
        time. Only the rows with such a hash (the duplicates, their originals
        and any collision) are read back by name, at most
        :data:`_CANDIDATES_PER_PASS` at a time, and compared on their full key
        values: of equal rows the first (in file order) is kept.
        """
        identity = [prov.BATCH_ID, prov.SOURCE_ROW]
        hashes = temporary_path_for(near.with_name(near.stem + ".hashes.parquet"))
        hashes.parent.mkdir(parents=True, exist_ok=True)
        try:
            kept.select(_row_hash(keys), *identity).sink_parquet(
                hashes, compression="uncompressed", statistics=False
            )
            repeated = _repeated_hashes(hashes)
            candidates = (
                pl.scan_parquet(hashes).filter(pl.col("__jf_h").is_in(repeated.implode())).collect()
            )
        finally:
            hashes.unlink(missing_ok=True)
        schema = kept.collect_schema()
        carried = [prov.SOURCE_FILE, prov.INGESTED_AT, *identity]
        dropped = [pl.DataFrame(schema={c: schema[c] for c in [*carried, *data]})]
        passes = max(1, math.ceil(candidates.height / _CANDIDATES_PER_PASS))
        for part in range(passes):
            wanted = (
                candidates.filter(pl.col("__jf_h") % passes == part) if passes > 1 else candidates
            )
            if wanted.is_empty():
                continue
            # Read by name, in file order, so the first of equal rows is kept.
            rows = kept.filter(_is_one_of(wanted)).select(*carried, *map(column, data)).collect()
            dropped.append(rows.filter(~pl.struct(map(column, keys)).is_first_distinct()))
        everything = pl.concat(dropped)
        return everything.select(identity), everything if passes == 1 else None

    # -- gold -------------------------------------------------------------------------
    def write_gold(
        self,
        inputs: dict[str, list[Path]],
        spec: GoldSpec,
        targets: StepTargets,
        ctx: StepContext,
        pending: PendingFiles,
    ) -> StepOutcome:
        tmp = pending.temp_for(targets.data)
        if spec.sql is not None:
            columns = self._gold_sql(inputs, spec, tmp, ctx)
        else:
            with _streaming([p for paths in inputs.values() for p in paths]):
                columns = self._gold_python(inputs, spec, tmp, ctx)
        out = pending.row_count(targets.data)
        return StepOutcome(
            rows_in=0,
            rows_out=out,
            transforms_applied=[f"gold:{spec.transform_label}"],
            source_columns=columns,
        )

    @staticmethod
    def _with_lineage(name: str, frame: pl.LazyFrame) -> pl.LazyFrame:
        if prov.LINEAGE in frame.collect_schema().names():
            return frame
        key = pl.concat_str(
            [
                pl.lit(f"{name}:"),
                pl.col(prov.BATCH_ID),
                pl.lit(":"),
                pl.col(prov.SOURCE_ROW).cast(pl.String),
            ]
        )
        return frame.with_columns(pl.concat_list([key]).alias(prov.LINEAGE))

    def _gold_python(
        self, inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext
    ) -> dict[str, list[str]]:
        frames = {n: self._with_lineage(n, pl.scan_parquet(p)) for n, p in inputs.items()}
        result = spec.resolved_function()(frames)
        if isinstance(result, pl.DataFrame):
            result = result.lazy()
        if not isinstance(result, pl.LazyFrame):
            raise ContractError(
                f"gold {spec.name}: {spec.transform_label} returned {type(result).__name__}, "
                "expected a polars LazyFrame"
            )
        names = list(result.collect_schema().names())
        self._require_lineage(spec, names)
        keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
        result.select(
            *keep, pl.lit("gold").alias(prov.LAYER), _ts(ctx.processed_at).alias(prov.PROCESSED_AT)
        ).sink_parquet(tmp, **_WRITE)
        return self._same_name_sources(inputs, frames, keep)

    def _gold_sql(
        self, inputs: dict[str, list[Path]], spec: GoldSpec, tmp: Path, ctx: StepContext
    ) -> dict[str, list[str]]:
        con = duckdb.connect(config={"threads": 2})
        try:
            input_columns: dict[str, list[str]] = {}
            for name, paths in inputs.items():
                files = "[" + ", ".join(_sql_str(str(p)) for p in paths) + "]"
                cols = [
                    r[0]
                    for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({files})").fetchall()
                ]
                input_columns[name] = cols
                lineage = (
                    ""
                    if prov.LINEAGE in cols
                    else f", [concat({_sql_str(name + ':')}, {prov.BATCH_ID}, ':', "
                    f"CAST({prov.SOURCE_ROW} AS VARCHAR))] AS {prov.LINEAGE}"
                )
                con.execute(
                    f"CREATE VIEW {_ident(name)} AS SELECT *{lineage} FROM read_parquet({files})"
                )
            try:
                described = con.execute(f"DESCRIBE {spec.sql}").fetchall()
            except duckdb.Error as exc:
                raise ContractError(f"gold {spec.name}: SQL error: {_first_line(exc)}") from None
            names = [r[0] for r in described]
            self._require_lineage(spec, names)
            keep = [c for c in names if c not in (prov.LAYER, prov.PROCESSED_AT)]
            select = ", ".join(_ident(c) for c in keep)
            stamp = ctx.processed_at.isoformat()
            con.execute(
                f"COPY (SELECT {select}, 'gold' AS {prov.LAYER}, "
                f"TIMESTAMPTZ {_sql_str(stamp)} AS {prov.PROCESSED_AT} "
                f"FROM ({spec.sql}) AS gold_result) "
                f"TO {_sql_str(str(tmp))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"
            )
        except duckdb.Error as exc:
            raise ContractError(f"gold {spec.name}: SQL error: {_first_line(exc)}") from None
        finally:
            con.close()
        return {
            c: [f"{n}.{c}" for n, cols in input_columns.items() if c in cols]
            for c in keep
            if any(c in cols for cols in input_columns.values())
        }

    @staticmethod
    def _same_name_sources(
        inputs: dict[str, list[Path]], frames: dict[str, pl.LazyFrame], columns: list[str]
    ) -> dict[str, list[str]]:
        known = {n: set(f.collect_schema().names()) for n, f in frames.items()}
        return {
            c: [f"{n}.{c}" for n in inputs if c in known[n]]
            for c in columns
            if any(c in cols for cols in known.values())
        }

    @staticmethod
    def _require_lineage(spec: GoldSpec, names: list[str]) -> None:
        if prov.LINEAGE not in names:
            raise ContractError(
                f"gold {spec.name}: the result has no {prov.LINEAGE} column; keep it from the "
                f"inputs (SELECT *, or list_concat(a.{prov.LINEAGE}, b.{prov.LINEAGE}) AS "
                f"{prov.LINEAGE} for a join, flatten(list({prov.LINEAGE})) for GROUP BY)"
            )


def _first_line(exc: BaseException) -> str:
    """DuckDB errors span several lines (candidates, a caret); errors are one line."""
    return str(exc).strip().splitlines()[0]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
