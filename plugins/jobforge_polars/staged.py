"""The staged step: source rows as read, stamped with provenance; reader rejects
to quarantine."""

from __future__ import annotations

import polars as pl

from jobforge.plugin import (
    ALL_COLUMNS,
    BATCH_ID,
    INGESTED_AT,
    LAYER,
    SOURCE_FILE,
    SOURCE_ROW,
    ContractError,
    PendingFiles,
    ReadResult,
    StagedContext,
    StepOutcome,
    StepTargets,
    literal,
)
from jobforge_polars.exprs import SINK, STAGED_SINK, quarantine_frame, ts
from jobforge_polars.reads import staged_frames


def write_staged(
    read: ReadResult, targets: StepTargets, ctx: StagedContext, pending: PendingFiles
) -> StepOutcome:
    frame, rejects = staged_frames(read)
    names = frame.collect_schema().names()
    columns = [c for c in names if c != SOURCE_ROW]
    clash = sorted(set(columns) & ALL_COLUMNS)
    if clash:
        raise ContractError(
            f"{ctx.source_file}: source column(s) {', '.join(clash)} use names reserved "
            "for provenance"
        )
    stamps = [
        pl.lit(ctx.source_file).alias(SOURCE_FILE),
        ts(ctx.ingested_at).alias(INGESTED_AT),
        pl.lit(ctx.batch_id).alias(BATCH_ID),
        pl.lit("staged").alias(LAYER),
    ]
    # Source columns by position: pl.col("*") or pl.col("^a.*$") would be
    # read as a wildcard or a regex, and a source header may be anything.
    positions = [i for i, c in enumerate(names) if c != SOURCE_ROW]
    data = [pl.nth(positions)] if positions else []
    staged = frame.select(*data, *stamps, pl.col(SOURCE_ROW).cast(pl.Int64))
    # Both files in one plan (collected together): their sinks stay open until it ran.
    sinks = [pending.sink_for(targets.data)]
    queries = [literal.sink_parquet(staged, sinks[0], **STAGED_SINK)]
    if rejects is not None and targets.quarantine is not None:
        rejected = rejects.with_columns(*stamps)
        sinks.append(pending.sink_for(targets.quarantine, drop_if_empty=True))
        queries.append(
            literal.sink_parquet(
                quarantine_frame(
                    rejected,
                    layer="staged",
                    ctx=ctx,
                    rule_id=pl.col("rule_id"),
                    column=pl.lit(None, dtype=pl.String),
                    message=pl.col("message"),
                    row=pl.col("row"),
                ),
                sinks[1],
                **SINK,
            )
        )
    try:
        pl.collect_all(queries)
    finally:
        for sink in sinks:
            sink.close()
    out = pending.row_count(targets.data)
    quarantined = pending.row_count(targets.quarantine) if targets.quarantine else 0
    return StepOutcome(
        rows_in=out + quarantined,
        rows_out=out,
        rows_quarantined=quarantined,
    )
