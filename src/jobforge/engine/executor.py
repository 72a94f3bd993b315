"""The executor contract: what the engine asks of an execution engine, and what it gets back.

The engine (:class:`~jobforge.engine.pipeline.PipelineEngine`) decides *what*
happens: which files are read, where outputs go, the row ledger, lineage and
publishing. An :class:`Executor` decides *how*: it reads a step's inputs, applies
the step's declarations and writes its outputs to the temporaries it is given.

Each layer step is one request object (:class:`StagedRequest`,
:class:`BronzeRequest`, :class:`SilverRequest`, :class:`GoldRequest`: the inputs,
the declarations, the targets and the row-ledger obligation) and one
:class:`StepOutcome`. An executor says what it can do in its
:class:`Capabilities`; the engine checks a project against them before anything
runs (:mod:`jobforge.engine.capabilities`).

An executor is chosen by name: ``[engine] executor = "polars"`` in
``jobforge.toml``, ``PipelineConfig(executor="polars")``. A plugin answers the
``jobforge_executor(config)`` hook with its executor when ``config.executor`` is
its name, and ``None`` otherwise. Bundled: ``polars`` (plugin ``polars``) and
``duckdb`` (plugin ``duckdb``). An executor package checks itself against the
conformance suite (:mod:`jobforge.testing.executor`).

This module is the contract; it imports no engine. Its names are stable: the
fields below only gain optional members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from jobforge.storage.store import StepTargets

__all__ = [
    "DUPLICATE_COLUMNS",
    "QUARANTINE_COLUMNS",
    "BronzeRequest",
    "Capabilities",
    "Executor",
    "GoldRequest",
    "LedgerObligation",
    "SilverRequest",
    "StagedContext",
    "StagedRequest",
    "StepContext",
    "StepOutcome",
    "StepTargets",
    "transform",
    "transform_kind",
]

if TYPE_CHECKING:
    import pyarrow as pa

    from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec
    from jobforge.sources.base import ReadResult
    from jobforge.storage.pending import PendingFiles

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_ingested_at",
    "_batch_id",
    "_source_row",
    "layer",
    "table_name",
    "rule_id",
    "column",
    "message",
    "severity",
    "row",
    "quarantined_at",
)
"""Columns of every quarantine file; ``row`` holds the rejected row's original
values as a JSON object (or, for a record the reader could not split into
fields, the raw fields as a JSON array)."""

DUPLICATE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_ingested_at",
    "_batch_id",
    "_source_row",
    "table_name",
    "row",
    "duplicate_of",
    "deduplicated_at",
)
"""Columns of the file of rows dropped as duplicates in silver; ``duplicate_of``
is the ``_source_row`` of the row it equals, the one kept (same batch)."""


# -- what an executor can do ---------------------------------------------------------------
@dataclass(frozen=True)
class Capabilities:
    """What an executor can do; the engine refuses, before anything runs, a
    project that needs something its executor does not declare."""

    transforms: frozenset[str] = frozenset()
    """Kinds of Python transform it runs (silver ``transforms`` and gold
    ``function``): ``"polars"`` is ``LazyFrame -> LazyFrame`` (gold:
    ``{name: LazyFrame} -> LazyFrame``); ``"arrow"`` is a silver transform
    ``pyarrow.RecordBatch -> pyarrow.RecordBatch`` run per batch, which every
    bundled executor runs (:mod:`jobforge.engine.transform_rules`). A transform
    says its kind with :func:`transform` (undecorated: ``"polars"``). Empty:
    declarative steps only."""
    files_per_version: Literal["one", "many"] = "one"
    """``"one"``: each output of a step (data, quarantine, duplicates) is one
    parquet file at its target path; ``"many"``: the data output may be several
    part files, each moved to :meth:`~jobforge.storage.pending.PendingFiles.part_for`
    of the target path, in row order (the table store must keep batches in
    parts: its ``files_per_version = "many"``)."""
    sql_dialect: str = "duckdb"
    """The SQL dialect (a sqlglot dialect name) it reads gold SQL and silver rule
    expressions in. The project's SQL is written in DuckDB SQL; an executor of
    another dialect says so and the engine refuses what it cannot translate."""
    streaming: bool = True
    """Whether it runs a step in bounded memory (rows are never all held at once)."""
    gold_sql: bool = True
    """Whether it runs gold steps written as SQL."""


# -- what every step carries ---------------------------------------------------------------
@dataclass
class StepContext:
    """What every step needs to stamp its rows."""

    table: str
    """The table's name (no layer prefix)."""
    batch_id: str
    """The batch being written: stamped as ``_batch_id`` in staged; carried after."""
    processed_at: datetime
    """When the step started (UTC): the ``quarantined_at`` / ``deduplicated_at`` stamp."""


@dataclass
class StagedContext(StepContext):
    source_file: str = ""
    """The source file as recorded (``_source_file``)."""
    ingested_at: datetime | None = None
    """The ``_ingested_at`` stamp of every row of the batch."""


@dataclass(frozen=True)
class LedgerObligation:
    """What the step's :class:`StepOutcome` must add up to. The engine refuses an
    outcome that does not balance: ``rows_in == rows_out + rows_quarantined +
    rows_deduplicated + rows_filtered``. Counts come from the written files'
    parquet footers, never from a second scan of the inputs."""

    rows_in: int | None
    """Rows the step reads: the input batch's recorded rows (bronze, silver), the
    sum over the gold inputs' versions, or the reader's own count of records
    (staged; ``None`` when the reader did not count)."""


# -- the requests ----------------------------------------------------------------------------
@dataclass
class _Request:
    targets: StepTargets
    """Final paths of the outputs; write each through ``pending.sink_for(path)``
    (a file object that hashes the bytes as they are written), or to the path
    ``pending.temp_for(path)`` gives a writer that takes only paths (its file is
    then read back once to hash it); quarantine and duplicates with
    ``drop_if_empty=True``; never to the final path."""
    context: StepContext
    pending: PendingFiles
    """The temporaries of this step: the engine moves them to the final paths
    when it publishes, and removes them on failure."""
    ledger: LedgerObligation


@dataclass
class StagedRequest(_Request):
    """Staged: the source rows as read, stamped with provenance; reader rejects
    to quarantine (``layer = "staged"``)."""

    read: ReadResult
    """The reader's result; an executor takes it as Arrow with :meth:`records`
    and :meth:`rejected`, and its metadata from ``read.header_mapping`` /
    ``read.details``. An executor that knows a kind of plan a reader may offer
    besides (``read.native_plan("polars")``) may run that instead."""
    context: StagedContext

    def records(self) -> pa.RecordBatchReader:
        """A new stream of the records as Arrow batches (one column per source
        field, then ``_source_row``); the reader parses as it is read."""
        return self.read.record_batches()

    def rejected(self) -> pa.RecordBatchReader | None:
        """A new stream of the reader's rejects (``_source_row``, ``rule_id``,
        ``message``, ``row``), or ``None``."""
        return self.read.rejected_batches()


@dataclass
class BronzeRequest(_Request):
    """Bronze: the schema contract, renames and casts; rows that do not cast to
    quarantine (``layer = "bronze"``)."""

    inputs: list[Path]
    """Parquet files of the staged batch."""
    schema: BronzeSchema


@dataclass
class SilverRequest(_Request):
    """Silver: exact de-duplication (dropped rows to ``targets.duplicates``),
    rules (errors to quarantine, ``layer = "silver"``; warnings counted), then
    the Python transforms."""

    inputs: list[Path]
    """Parquet files of the bronze batch."""
    spec: SilverSpec


@dataclass
class GoldRequest(_Request):
    """Gold: SQL (each input a view named after its table, with a ``_lineage``
    column) or a Python function over the inputs."""

    inputs: dict[str, list[Path]]
    """Input table name -> parquet files of its current version."""
    spec: GoldSpec


# -- the outcome -----------------------------------------------------------------------------
@dataclass
class StepOutcome:
    """What an executor reports after writing a step. Counts come from the written
    files' parquet footers, never from a second scan. Column lineage is not the
    executor's to report: the engine works it out from the step's declarations
    (:mod:`jobforge.engine.column_lineage`)."""

    rows_in: int
    rows_out: int
    rows_quarantined: int = 0
    rows_deduplicated: int = 0
    rows_filtered: int = 0
    rows_warned: int = 0
    rule_counts: dict[str, int] = field(default_factory=dict)
    """Rule id -> rows that failed it (errors and warnings)."""
    transforms_applied: list[str] = field(default_factory=list)
    """What the step did, for the record: ``rename:a->b``, ``cast:x:int``,
    ``dedupe:row``, ``rule:<id>``, transform names, ``sql``."""


# -- the executor ----------------------------------------------------------------------------
class Executor(Protocol):
    """Runs the layer steps. Every method writes only to ``request.pending`` temporaries.

    Optional methods the engine uses when present (checks before a run):
    ``check_rule(expression, columns) -> str | None`` (what is wrong with a
    silver rule over columns ``{name: type}``, or ``None``) and
    ``describe_gold(sql, inputs) -> {column: type}`` (the columns a gold query
    returns over inputs ``{table: {column: type}}``)."""

    name: str
    """The name ``[engine] executor`` chooses it by; part of every fingerprint."""
    capabilities: Capabilities

    def write_staged(self, request: StagedRequest) -> StepOutcome: ...

    def write_bronze(self, request: BronzeRequest) -> StepOutcome: ...

    def write_silver(self, request: SilverRequest) -> StepOutcome: ...

    def write_gold(self, request: GoldRequest) -> StepOutcome: ...


# -- Python transforms say which executor they need ---------------------------------------
_KIND_ATTRIBUTE = "__jobforge_transform_kind__"
DEFAULT_TRANSFORM_KIND = "polars"
"""The kind of a transform that does not say (every transform written before kinds existed)."""

F = TypeVar("F", bound=Callable[..., Any])


def transform(kind: str) -> Callable[[F], F]:
    """Mark a silver transform or gold function as one of ``kind`` (an executor
    runs it only if ``kind`` is in its :attr:`Capabilities.transforms`)::

        @transform("polars")
        def add_band(frame: pl.LazyFrame) -> pl.LazyFrame: ...

        @transform(kind="arrow")
        def add_band(batch: pa.RecordBatch) -> pa.RecordBatch: ...
    """

    def mark(fn: F) -> F:
        setattr(fn, _KIND_ATTRIBUTE, kind)
        return fn

    return mark


def transform_kind(fn: Any) -> str:
    """The kind of a transform (see :func:`transform`)."""
    return str(getattr(fn, _KIND_ATTRIBUTE, DEFAULT_TRANSFORM_KIND))
