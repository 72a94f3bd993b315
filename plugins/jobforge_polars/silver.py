"""The silver step: rules (failures to quarantine), de-duplication (dropped rows
to the duplicates file) and transforms."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge.plugin import (
    BATCH_ID,
    INGESTED_AT,
    SOURCE_FILE,
    SOURCE_ROW,
    WRITE,
    ContractError,
    PendingFiles,
    Rule,
    SilverSpec,
    StepContext,
    StepOutcome,
    StepTargets,
    data_columns,
    duplicate_values,
    filtered_rows,
    literal,
    require_provenance,
    split_transforms,
    transform_name,
)
from jobforge_polars.arrow import write_arrow_transformed
from jobforge_polars.dedupe import (
    DUPLICATE_OF,
    apart_column,
    candidate_names,
    duplicate_rows,
    is_one_of,
    read_in_one_pass,
)
from jobforge_polars.exprs import (
    all_true,
    carry,
    column,
    first_true,
    json_row,
    quarantine_frame,
    set_apart,
)
from jobforge_polars.streaming import Inputs, read


def write_silver(
    inputs: Inputs,
    rows_in: int,
    spec: SilverSpec,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    frame = read(inputs)
    names = list(frame.collect_schema().names())
    data = data_columns(names)
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
                f"silver {ctx.table}: dedupe key(s) {', '.join(map(repr, unknown))} are not columns"
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
    accepted = int(totals["__jf_accepted"])
    kept = frame.filter(~rejected)
    nominated = candidate_names(kept, keys, accepted, targets.data) if keys else None
    quarantined = bool(errors) and targets.quarantine is not None and accepted < rows_in
    # The rows quarantined and the de-duplication's candidates are each a few
    # rows spread over every page of bronze: read together (when they fit in
    # one comparison pass), they cost one read of bronze instead of two.
    shared = (
        frame.filter(rejected | is_one_of(nominated))
        .select(*map(column, _read_apart(names, data, errors)), rejected.alias(apart_column(data)))
        .collect()
        if quarantined
        and nominated is not None
        and nominated.height
        and read_in_one_pass(nominated, rows_in - accepted)
        else None
    )
    if quarantined and targets.quarantine is not None:
        quarantined_rows = quarantine_frame(
            frame.filter(rejected) if shared is None else shared.lazy().filter(rejected),
            layer="silver",
            ctx=ctx,
            rule_id=first_true([(f, r.id) for f, r in errors]),
            column=all_true(
                [
                    (
                        f,
                        pl.lit(
                            ", ".join(dict.fromkeys(pl.sql_expr(r.expression).meta.root_names()))
                        ),
                    )
                    for f, r in errors
                ],
                "; ",
            ),
            message=all_true(
                [(f, pl.lit(r.message or f"failed: {r.expression}")) for f, r in errors],
                "; ",
            ),
            row=json_row(data),
        )
        with pending.sink_for(targets.quarantine, drop_if_empty=True) as apart:
            literal.sink_parquet(quarantined_rows, apart, **WRITE)
    dropped, dropped_rows = (
        duplicate_rows(kept, keys, data, nominated, shared)
        if nominated is not None
        else (None, None)
    )
    del shared, nominated  # not held while silver is written (about 100 MiB at 10M rows)
    duplicate = is_one_of(dropped) if dropped is not None and dropped.height else None
    unique = kept if duplicate is None else kept.filter(~duplicate)
    where = f"silver {ctx.table}"
    transforms = spec.resolved_transforms()
    native, arrow = split_transforms(where, transforms)
    result = unique.select(*[column(c) for c in data], *carry(ctx, "silver"))
    for transform in native:
        result = transform(result)
        if not isinstance(result, pl.LazyFrame):
            raise ContractError(
                f"{where}: transform {transform_name(transform)} returned "
                f"{type(result).__name__}, expected a polars LazyFrame"
            )
    require_provenance(where, result.collect_schema().names())
    if duplicate is not None and targets.duplicates is not None and dropped is not None:
        # The dropped rows as read while comparing candidates, else read again
        # (and told which row each equals); written before silver, so that
        # they are not held while it is.
        _write_duplicates(
            kept.filter(duplicate).join(
                dropped.lazy(), on=[BATCH_ID, SOURCE_ROW], how="left", maintain_order="left"
            )
            if dropped_rows is None
            else dropped_rows.lazy(),
            data,
            ctx,
            pending,
            targets.duplicates,
        )
    del dropped_rows
    with pending.sink_for(targets.data) as out_file:
        if arrow:
            write_arrow_transformed(result, arrow, where, out_file)
        else:
            literal.sink_parquet(result, out_file, **WRITE)
    out = pending.row_count(targets.data)
    set_apart_rows = pending.row_count(targets.quarantine) if targets.quarantine else 0
    duplicates = pending.row_count(targets.duplicates) if targets.duplicates else 0
    unique_rows = accepted - duplicates
    filtered = filtered_rows(where, unique_rows, out, bool(transforms))
    return StepOutcome(
        rows_in=rows_in,
        rows_out=out,
        rows_quarantined=set_apart_rows,
        rows_deduplicated=duplicates,
        rows_filtered=filtered,
        rows_warned=int(totals["__jf_warned"] or 0),
        rule_counts={r.id: int(totals[r.id] or 0) for _, r in [*errors, *warns]},
        transforms_applied=(
            ([f"dedupe:{'row' if spec.dedupe == 'row' else ','.join(keys)}"] if keys else [])
            + [f"rule:{r.id}:{r.severity}" for r in spec.rules]
            + [f"transform:{transform_name(t)}" for t in transforms]
        ),
    )


def _write_duplicates(
    rows: pl.LazyFrame, data: list[str], ctx: StepContext, pending: PendingFiles, target: Path
) -> None:
    given = {"row": json_row(data), "duplicate_of": pl.col(DUPLICATE_OF)}
    with pending.sink_for(target, drop_if_empty=True) as apart:
        literal.sink_parquet(rows.select(set_apart(duplicate_values(ctx), given)), apart, **WRITE)


def _read_apart(names: list[str], data: list[str], errors: list[tuple[pl.Expr, Rule]]) -> list[str]:
    """The columns (of ``names``, in order) that the quarantine and the comparison
    of candidates read: the provenance set apart with a row, the data and the
    columns of the error rules."""
    wanted = {SOURCE_FILE, INGESTED_AT, BATCH_ID, SOURCE_ROW, *data}
    wanted.update(c for f, _ in errors for c in f.meta.root_names())
    return [c for c in names if c in wanted]
