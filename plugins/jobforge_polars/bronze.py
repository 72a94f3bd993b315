"""The bronze step: the schema contract, renames and casts; rows that do not cast
to quarantine."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge.plugin import (
    WRITE,
    BronzeSchema,
    PendingFiles,
    StepContext,
    StepOutcome,
    StepTargets,
    bronze_columns,
    cast_message_type,
    data_columns,
    literal,
    typed_casts,
)
from jobforge_polars.casts import cast_columns
from jobforge_polars.exprs import (
    all_true,
    carry,
    column,
    first_true,
    json_row,
    quarantine_frame,
)


def write_bronze(
    inputs: list[Path],
    rows_in: int,
    schema: BronzeSchema,
    targets: StepTargets,
    ctx: StepContext,
    pending: PendingFiles,
) -> StepOutcome:
    frame = literal.scan_parquet(inputs)
    types = frame.collect_schema()
    data = data_columns(list(types.names()))
    final = bronze_columns(schema, data, ctx.table)
    casts = typed_casts(schema, final)
    flags = [(f"__jf_f{i}", source, spec) for i, source, spec in casts]
    staged = cast_columns(frame, casts, types)
    cast_index = {i for i, _, _ in casts}
    failed = pl.any_horizontal([pl.col(f) for f, _, _ in flags]) if flags else pl.lit(False)
    good = staged.filter(~failed).select(
        *[
            (pl.col(f"__jf_v{i}") if i in cast_index else column(source)).alias(name)
            for i, (source, name) in enumerate(final.items())
        ],
        *carry(ctx, "bronze"),
    )
    # The data alone in the main plan (a second sink costs every row a fan
    # out); the rows that failed, if any, are found again by a second pass.
    with pending.sink_for(targets.data) as out_file:
        literal.sink_parquet(good, out_file, **WRITE)
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
                    pl.lit(cast_message_type(spec)),
                ),
            )
            for f, src, spec in flags
        ]
        quarantined_rows = quarantine_frame(
            bad,
            layer="bronze",
            ctx=ctx,
            rule_id=first_true([(pl.col(f), f"cast:{final[src]}") for f, src, _ in flags]),
            column=all_true([(pl.col(f), pl.lit(final[src])) for f, src, _ in flags], ", "),
            message=all_true(described, "; "),
            row=json_row(data),
        )
        with pending.sink_for(targets.quarantine, drop_if_empty=True) as apart:
            literal.sink_parquet(quarantined_rows, apart, **WRITE)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    applied = [f"cast:{final[src]}:{spec.type}" for _, src, spec in flags]
    renames = [f"rename:{s}->{n}" for s, n in final.items() if s != n]
    return StepOutcome(
        rows_in=rows_in,
        rows_out=out,
        rows_quarantined=quarantined,
        transforms_applied=renames + applied,
    )
