"""What is in the warehouse now: every table's current version in every layer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from jobforge.catalog.entries import load_entry
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage import literal, versions


@dataclass
class TableStatus:
    table: str
    layer: str
    version: int
    rows: int
    batches: int
    last_batch: str
    updated_at: datetime
    quarantined_rows: int
    """Rows of this table rejected in this layer by the batches of its current version."""
    stale: bool
    """True when an upstream table was published after this version."""
    upstream: list[str]
    state: str = "up to date"
    """``up to date``, ``stale (upstream ... newer)``, or what the last run that
    considered this step said of it when it did not end well (``failed: ...``,
    ``skipped: ...``)."""
    duplicate_deliveries: int = 0
    """Staged: source files seen with the same bytes as an earlier batch."""
    record_id: str | None = None
    """The lineage record that published this version."""
    chain_head: str | None = None
    """sha256 of the last lineage record of the table's chain (every layer of a
    table shares one chain; ``jobforge verify`` checks it); ``None``: not chained."""
    chain_length: int = 0
    """Records in the table's chain."""
    delta_version: int | None = None
    """The Delta version of this version's commit (``[storage] format = "delta"``)."""

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["updated_at"] = self.updated_at.isoformat()
        return data


def _quarantined(
    config: PipelineConfig, table: str, layer: Layer, current: versions.CurrentVersion
) -> int:
    """Rows rejected by the publications of the current version: a quarantine file
    (or its parts) is named like the data file it goes with, and a batch promoted again (a re-run, a
    replay) has new files beside the earlier run's, which are not counted again."""
    if layer is Layer.GOLD:  # gold builds new rows: it rejects none
        return 0
    store = config.store
    files = [f for b in current.batches for f in store.set_apart_files_of(table, layer.value, b)]
    return sum(literal.read_metadata(p).num_rows for p in files)


def _duplicate_deliveries(config: PipelineConfig, table: str) -> int:
    from jobforge.catalog.lineage import read_records
    from jobforge.pipeline.models import IngestionRecord

    return sum(
        isinstance(r, IngestionRecord) and r.status == "skipped"
        for r in read_records(config, table)
    )


def _last_steps(config: PipelineConfig) -> dict[tuple[str, str], tuple[str, str]]:
    """``(layer, table)`` -> ``(status, reason or error)`` of the latest run
    record that considered the step."""
    from jobforge.catalog.runs import read_run_records

    found: dict[tuple[str, str], tuple[str, str]] = {}
    for run in read_run_records(config):  # oldest first: later runs win
        for step in run.steps:
            found[(step.layer, step.table)] = (step.status, step.error or step.reason)
    return found


def warehouse_status(config: PipelineConfig) -> list[TableStatus]:
    """One entry per table and layer that has a current version, layer by layer."""
    found: dict[tuple[str, str], versions.CurrentVersion] = {}
    store = config.store
    for layer in Layer:
        for table in store.tables(layer.value):
            current = store.current(layer.value, table)
            if current is not None:
                found[(layer.value, table)] = current
    from jobforge.audit.chain import read_head

    statuses = []
    last = _last_steps(config)
    heads = {table: read_head(config, table) for _, table in found}
    for (layer_name, table), current in found.items():
        layer = Layer(layer_name)
        if layer is Layer.GOLD:
            entry = load_entry(config, layer_name, table)
            upstream = list(entry.upstream_tables) if entry else []
        elif layer is Layer.STAGED:
            upstream = []
        else:
            previous = layer.previous()
            assert previous is not None  # every layer but staged has one
            upstream = [f"{previous.value}.{table}"]
        newer = []
        for key in upstream:
            up_layer, _, up_table = key.partition(".")
            up = found.get((up_layer, up_table))
            if up is not None and up.updated_at > current.updated_at:
                newer.append(key)
        state = f"stale (upstream {', '.join(newer)} newer)" if newer else "up to date"
        step = last.get((layer_name, table))
        if step is not None and step[0] in ("failed", "skipped"):
            state = f"{step[0]} in the last run: {step[1]}"
        statuses.append(
            TableStatus(
                table=table,
                layer=layer_name,
                version=current.version,
                rows=current.row_count,
                batches=len(current.batches),
                last_batch=current.batches[-1].batch_id if current.batches else "",
                updated_at=current.updated_at,
                quarantined_rows=_quarantined(config, table, layer, current),
                stale=bool(newer),
                upstream=upstream,
                state=state,
                duplicate_deliveries=(
                    _duplicate_deliveries(config, table) if layer is Layer.STAGED else 0
                ),
                record_id=current.record_id,
                chain_head=head.record_sha256 if (head := heads[table]) else None,
                chain_length=head.position if head else 0,
                delta_version=current.extra.get("delta_version"),
            )
        )
    return statuses
