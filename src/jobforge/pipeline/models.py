"""The record models of jobforge: provenance, lineage and DAMA-DMBOK metadata.

Every datetime is timezone-aware UTC: a naive datetime is refused (an audit
record must not guess a time zone) and an aware one in another zone is
normalised to UTC. JSON uses ISO-8601 with the offset, and every model
round-trips: ``Model.model_validate_json(m.model_dump_json()) == m``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from jobforge.timestamps import UtcDatetime as UtcDatetime  # defined there, used here

# -- the governance vocabularies: the one place they and their order are defined -------------

Classification = Literal["public", "internal", "confidential", "restricted"]
"""Information classification of a table, least to most protected:
``public < internal < confidential < restricted``. A table's classification is
at least the highest of its inputs' (see :mod:`jobforge.catalog.governance`)."""

CLASSIFICATIONS: tuple[str, ...] = get_args(Classification)
"""The classifications in order, least to most protected."""

PiiClassification = Literal["none", "quasi_identifier", "direct_identifier", "sensitive"]
"""PII vocabulary of a column, weakest to strongest:
``none < quasi_identifier < direct_identifier < sensitive``.

- ``none``: holds no personal information.
- ``quasi_identifier``: identifies a person only combined with other data
  (postal code, birth date, job title in a small unit).
- ``direct_identifier``: identifies a person alone (name, e-mail, SIN).
- ``sensitive``: personal information of a special category (health, salary
  of a named person, ethnicity, union membership).

A column's class is at least the strongest class of the columns it is
computed from. ``None`` (not classified yet) is not a class: it never becomes
``none`` by propagation.
"""

PII_CLASSIFICATIONS: tuple[str, ...] = get_args(PiiClassification)
"""The PII classes in order, weakest to strongest."""


def classification_rank(value: str) -> int:
    """The place of a classification in :data:`CLASSIFICATIONS` (0 = ``public``)."""
    return CLASSIFICATIONS.index(value)


def highest_classification(values: Iterable[str]) -> str | None:
    """The most protected of ``values`` (``None`` when there is none)."""
    found = list(values)
    return max(found, key=classification_rank) if found else None


def pii_rank(value: str) -> int:
    """The place of a PII class in :data:`PII_CLASSIFICATIONS` (0 = ``none``)."""
    return PII_CLASSIFICATIONS.index(value)


def strongest_pii(values: Iterable[str | None]) -> str | None:
    """The class of a column computed from columns of classes ``values``.

    The strongest class among them; but when that is ``none`` and one of them
    is not classified (``None``), the result is not classified either: an
    unclassified input may hold personal data. No values: ``None``.
    """
    found = list(values)
    classified = [v for v in found if v is not None]
    if not classified:
        return None
    strongest = max(classified, key=pii_rank)
    if strongest == "none" and len(classified) < len(found):
        return None
    return strongest


LineageKind = Literal[
    "identity",
    "rename",
    "cast",
    "expression",
    "aggregate",
    "literal",
    "transform",
    "declared",
    "unknown",
]
"""How a column is computed from its ``source_columns``.

- ``identity``: the source column itself, same name, untouched (a staged column: the
  source file's header of the same name; silver: a bronze column passed through);
- ``rename``: a source column under another name (a bronze rename, ``x AS y``; a staged
  column whose header name had to be changed, see the ingestion's ``header_mapping``);
- ``cast``: a cast of one column (a bronze cast, ``CAST(x AS ...)``), renamed or not;
- ``expression``: computed row by row (functions, arithmetic, ``CASE``, concatenation);
- ``aggregate``: an aggregate or window function is involved;
- ``literal``: no source column (a constant);
- ``transform``: changed by a silver transform (a Python function);
- ``declared``: a gold function's column whose plan could not be read, with the
  sources the project declares (``[gold.<t>.columns.<c>] from = [...]``);
- ``unknown``: a gold function's column whose plan could not be read and whose
  sources nobody declared: never guessed.
"""

LINEAGE_KINDS: tuple[str, ...] = get_args(LineageKind)

LayerName = Literal["staged", "bronze", "silver", "gold"]
TransitionStatus = Literal["success", "partial", "failed"]
IngestionStatus = Literal["success", "partial", "failed", "skipped"]
"""``skipped``: the file's bytes (read the same way) equal an earlier batch's: a
duplicate delivery, recorded with the batch it equals (``duplicate_of``)."""


def _check_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"expected a UUID, got {value!r}") from None


UuidStr = Annotated[str, AfterValidator(_check_uuid)]
"""A UUID in its canonical lower-case text form."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the only clock jobforge records use)."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new random UUID as text (batch, transition and run ids)."""
    return str(uuid.uuid4())


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ProvenanceColumns(BaseModel):
    """The provenance columns on every row of every layer.

    The column names start with ``_`` (``_source_file``...), which Pydantic
    does not allow as field names: the attributes have plain names and the
    underscore names are the aliases used on input and in every serialized form.
    """

    model_config = ConfigDict(
        extra="forbid", validate_by_alias=True, validate_by_name=True, serialize_by_alias=True
    )

    source_file: str = Field(alias="_source_file", min_length=1)
    ingested_at: UtcDatetime = Field(alias="_ingested_at")
    batch_id: UuidStr = Field(alias="_batch_id")
    layer: LayerName = Field(alias="_layer")

    @classmethod
    def column_names(cls) -> list[str]:
        """The four column names as they appear in DataFrames."""
        return list(PROVENANCE_COLUMNS)


PROVENANCE_COLUMNS: tuple[str, ...] = ("_source_file", "_ingested_at", "_batch_id", "_layer")
"""The four provenance column names of :class:`ProvenanceColumns`, in order."""


class LayerTransitionLog(_Record):
    """One promotion of one batch of a table from a layer to the next."""

    transition_id: UuidStr
    batch_id: str = Field(min_length=1)
    source_layer: Literal["staged", "bronze", "silver"]
    target_layer: Literal["bronze", "silver", "gold"]
    source_files: list[str]
    target_file: str
    row_count_in: NonNegativeInt
    row_count_out: NonNegativeInt
    transforms_applied: list[str]
    started_at: UtcDatetime
    completed_at: UtcDatetime
    status: TransitionStatus
    errors: list[str] | None = None

    @model_validator(mode="after")
    def _check_consistency(self) -> LayerTransitionLog:
        if self.completed_at < self.started_at:
            raise ValueError("completed_at: must not be before started_at")
        if self.status == "failed" and not self.errors:
            raise ValueError("errors: a failed transition must say what went wrong")
        return self


class ColumnMetadata(_Record):
    """DAMA-DMBOK metadata of one column."""

    name: str = Field(min_length=1)
    data_type: str
    nullable: bool
    description: str = ""
    glossary_term_id: str | None = None
    source_columns: list[str] = Field(default_factory=list)
    """The exact columns this one is computed from, ``<layer>.<table>.<column>``; in
    staged, the source file's header name."""
    lineage_kind: LineageKind | None = None
    """How it is computed from ``source_columns`` (``None``: an entry written before
    jobforge recorded it)."""
    lineage_expression: str | None = None
    """The expression that computes it (gold SQL in DuckDB's dialect, a bronze cast,
    the silver transforms), ``None`` for a plain pass-through."""
    pii_classification: PiiClassification | None = None
    pii_origin: str | None = None
    """Why the column has its PII class: ``declared``, ``set by an enrichment
    plugin``, ``inherited from <layer>.<table>.<column>, ...`` or ``declassified
    from <class> ...`` (see docs/catalog.md)."""
    pii_sources: list[str] = Field(default_factory=list)
    """Inherited (or declassified) classes: the columns, ``<layer>.<table>.<column>``,
    where the class was set (declared or by a plugin), followed through every layer."""
    example_values: list[str] = Field(default_factory=list)
    """Up to three values from the first rows, kept only where they may be read: a
    column with no PII class (or ``none``) in a ``public`` or ``internal`` table."""


class Declassification(_Record):
    """A decision, declared in ``jobforge.toml`` (``declassify = {...}`` on a table's
    metadata), that lets a table carry a lower label than its inputs give, as
    applied to one version of the table."""

    to: Classification
    """The table's classification by the decision."""
    computed: Classification
    """What the inputs give (the label without the decision)."""
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    min_group_size: PositiveInt | None = None
    """Every row must count at least this many distinct source rows (``_lineage``
    entries) of the tables in ``group_tables``; checked on the data on every run."""
    smallest_group: NonNegativeInt | None = None
    """The fewest such rows any row of this version counts (``None``: no check
    declared, or a version with no rows)."""
    group_tables: list[str] = Field(default_factory=list)
    """The silver tables whose rows were counted."""
    columns: list[str] = Field(default_factory=list)
    """Columns whose declared PII class is below what their sources give."""


class TableMetadata(_Record):
    """DAMA-DMBOK metadata of one table in one layer."""

    table_name: str = Field(min_length=1)
    layer: LayerName
    domain: str
    file_path: str
    row_count: NonNegativeInt
    column_count: NonNegativeInt
    file_size_bytes: NonNegativeInt
    schema_version: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    description: str = ""
    business_purpose: str = ""
    data_owner: str = ""
    data_steward: str | None = None
    upstream_tables: list[str] = Field(default_factory=list)
    downstream_tables: list[str] = Field(default_factory=list)
    transform_script: str | None = None
    retention_days: NonNegativeInt | None = None
    classification: Classification = "internal"
    classification_origin: str | None = None
    """Why the table has its classification: ``declared``, ``default`` (nothing
    declared, no input), ``set by an enrichment plugin``, ``inherited from
    <layer>.<table>, ...`` or ``declassified from <classification> ...``."""
    classification_sources: list[str] = Field(default_factory=list)
    """Inherited (or declassified) classifications: the tables, ``<layer>.<table>``,
    where the classification was set, followed through every layer."""
    declassification: Declassification | None = None
    """The recorded decision that gave this table (or its columns) a lower label
    than its inputs do, with the group-size check of this version."""
    columns: list[ColumnMetadata] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_columns(self) -> TableMetadata:
        if self.columns and self.column_count != len(self.columns):
            raise ValueError(
                f"column_count: {self.column_count} disagrees with the "
                f"{len(self.columns)} columns described"
            )
        if self.updated_at < self.created_at:
            raise ValueError("updated_at: must not be before created_at")
        return self

    @property
    def key(self) -> str:
        """``layer.table``: how the catalog names this entry."""
        return f"{self.layer}.{self.table_name}"


class RowLedger(_Record):
    """Where every row of a transition went. It must balance:
    ``rows_in == rows_out + rows_quarantined + rows_deduplicated + rows_filtered``
    (minus ``rows_generated``, which only a gold join can have).
    """

    rows_in: NonNegativeInt
    rows_out: NonNegativeInt
    rows_quarantined: NonNegativeInt = 0
    rows_deduplicated: NonNegativeInt = 0
    rows_filtered: NonNegativeInt = 0
    rows_generated: NonNegativeInt = 0
    """Gold only: rows a join produced beyond its input rows."""
    rows_warned: NonNegativeInt = 0
    """Rows kept although a ``warn`` rule failed on them (not a part of the sum)."""

    @property
    def accounted(self) -> int:
        return (
            self.rows_out
            + self.rows_quarantined
            + self.rows_deduplicated
            + self.rows_filtered
            - self.rows_generated
        )

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.accounted

    def imbalance_message(self) -> str:
        return (
            f"row ledger does not balance: rows_in={self.rows_in} but "
            f"out={self.rows_out} + quarantined={self.rows_quarantined} + "
            f"deduplicated={self.rows_deduplicated} + filtered={self.rows_filtered} "
            f"= {self.accounted}"
        )


class FileDigest(_Record):
    """One file a record published: its sha256 and size, taken from the file as it
    was written, before it was renamed into place. (The source file of an
    ingestion has its own fields: ``source_sha256``, ``source_size_bytes``.)"""

    role: Literal["data", "quarantine", "duplicates"]
    path: str
    """Relative to the data root for files inside it (``silver/x/batch=...parquet``),
    absolute otherwise."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: NonNegativeInt


class RecordSeal(_Record):
    """What makes a lineage record tamper-evident (see docs/audit.md).

    Each table's records form a chain: a record holds the sha256 of the record
    before it (:func:`jobforge.audit.chain.record_sha256`: its canonical JSON
    without ``signature``) and its place in the chain; a transition also holds
    the hashes of the records that published its inputs. ``signature`` is an
    ed25519 signature of the record's own hash, when a signing key is configured.
    """

    files: list[FileDigest] = Field(default_factory=list)
    chain_position: PositiveInt | None = None
    """1 for a table's first record (``None``: written before records were chained)."""
    previous_record_sha256: str | None = None
    input_record_sha256: dict[str, str] = Field(default_factory=dict)
    """Record id -> sha256 of each record that published an input of this one."""
    signing_key_id: str | None = None
    """sha256 of the raw ed25519 public key that signed this record."""
    signature: str | None = None
    """Hex ed25519 signature of the record's sha256 (the hash leaves this field out)."""


class ColumnTotal(_Record):
    """The sum and the count of non-null values of one column in one part of a
    transition. ``sum`` is exact decimal text for integer and decimal columns
    (``None``: no non-null value)."""

    sum: str | None
    non_null: NonNegativeInt


class ControlTotal(_Record):
    """One control column of a transition (``[tables.x.audit] control_totals``):
    its totals in each part, which must reconcile like the row ledger does:
    ``came_in == went_out + quarantined + deduplicated + filtered`` (exactly for
    ``exact`` columns, within :data:`jobforge.engine.control_totals.FLOAT_TOLERANCE`
    for ``float`` ones). Gold builds new rows: it records ``went_out`` only."""

    column: str
    kind: Literal["exact", "float"]
    came_in: ColumnTotal | None = None
    went_out: ColumnTotal
    quarantined: ColumnTotal | None = None
    deduplicated: ColumnTotal | None = None
    filtered: ColumnTotal | None = None
    """What no file holds (rows a filter dropped): the remainder of the others,
    and zero, checked, when the ledger filtered no row."""


class InputRef(_Record):
    """One batch a transition read: which table version's file, and the lineage
    record that published that file (so a chain is followed by record ids, not
    by file names)."""

    table: str
    """``<layer>.<table>`` of the input."""
    batch_id: str
    file: str
    """The file read, as the version pointer lists it (a path)."""
    record_id: str | None = None
    """The ingestion or transition record that published ``file`` (``None`` for
    files published before jobforge 2.1)."""


COMPACTION = "compact"
"""``transforms_applied`` of the record of a compaction: the rows of several
files of one version of a table rewritten, unchanged, into fewer files of the
same layer (``jobforge maintain``; docs/storage.md)."""


class TransitionRecord(LayerTransitionLog, RecordSeal):
    """A :class:`LayerTransitionLog` with the table and its row ledger.

    This is what the engine writes to the lineage catalog; the original log
    fields keep their meaning.
    """

    record_type: Literal["transition"] = "transition"
    source_layer: LayerName  # type: ignore[assignment]
    """As for :class:`LayerTransitionLog`; a compaction (``jobforge maintain``,
    :data:`COMPACTION`) reads and writes the same layer."""
    target_layer: LayerName  # type: ignore[assignment]
    table_name: str
    domain: str = ""
    ledger: RowLedger
    quarantine_file: str | None = None
    input_tables: list[str] = Field(default_factory=list)
    inputs: list[InputRef] = Field(default_factory=list)
    """Every batch read, with the record that published it."""
    rule_counts: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0
    fingerprint: dict[str, str] = Field(default_factory=dict)
    """What the output was made from (see :mod:`jobforge.engine.fingerprint`)."""
    declassification: Declassification | None = None
    """Gold builds under a ``declassify`` decision: the decision and the smallest
    group found in the data (see :class:`Declassification`)."""
    control_totals: list[ControlTotal] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_layers(self) -> TransitionRecord:
        """A transition still never reads gold nor writes staged (the layers
        :class:`LayerTransitionLog` allows); a compaction stays in its layer."""
        if self.transforms_applied == [COMPACTION]:
            if self.source_layer != self.target_layer:
                raise ValueError("target_layer: a compaction writes the layer it reads")
        elif self.source_layer == "gold" or self.target_layer == "staged":
            raise ValueError(
                f"source_layer, target_layer: {self.source_layer} -> {self.target_layer} is "
                f"not a transition (only a compaction, transforms_applied = [{COMPACTION!r}], "
                "reads gold or writes staged)"
            )
        return self

    @model_validator(mode="after")
    def _check_ledger(self) -> TransitionRecord:
        if self.status != "failed":
            if not self.ledger.balanced:
                raise ValueError(f"ledger: {self.ledger.imbalance_message()}")
            if self.ledger.rows_in != self.row_count_in or (
                self.ledger.rows_out != self.row_count_out
            ):
                raise ValueError("ledger: disagrees with row_count_in/row_count_out")
        return self


class IngestionRecord(RecordSeal):
    """A source file read into the staged layer: the start of every lineage chain.

    Ingestion is not a transition between layers, so it has its own record.
    """

    record_type: Literal["ingestion"] = "ingestion"
    ingestion_id: UuidStr
    batch_id: UuidStr
    table_name: str
    domain: str = ""
    source_file: str
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    source_size_bytes: NonNegativeInt
    source_format: str
    reader: str
    target_layer: Literal["staged"] = "staged"
    target_file: str
    row_count_in: NonNegativeInt
    row_count_out: NonNegativeInt
    rows_quarantined: NonNegativeInt = 0
    """Records the reader could not split into the header's fields (ragged CSV
    records, bad NDJSON lines): kept in quarantine, not in staged."""
    header_mapping: dict[str, str] = Field(default_factory=dict)
    reader_details: dict[str, Any] = Field(default_factory=dict)
    started_at: UtcDatetime
    completed_at: UtcDatetime
    status: IngestionStatus
    errors: list[str] | None = None
    seconds: float = 0.0
    fingerprint: dict[str, str] = Field(default_factory=dict)
    """The source's sha256 and how it was read (see :mod:`jobforge.engine.fingerprint`)."""
    duplicate_of: str | None = None
    """``skipped`` records: the batch whose file had the same bytes, read the same way."""

    @model_validator(mode="after")
    def _check_consistency(self) -> IngestionRecord:
        if self.completed_at < self.started_at:
            raise ValueError("completed_at: must not be before started_at")
        if self.status == "failed" and not self.errors:
            raise ValueError("errors: a failed ingestion must say what went wrong")
        if (self.status == "skipped") != (self.duplicate_of is not None):
            raise ValueError("duplicate_of: a skipped ingestion names the batch it equals")
        if self.status not in ("failed", "skipped") and (
            self.row_count_in != self.row_count_out + self.rows_quarantined
        ):
            raise ValueError(
                "row_count_out: every source record must be in staged or in quarantine"
            )
        return self


LineageRecord = TransitionRecord | IngestionRecord

CATALOG_MODELS: tuple[type[BaseModel], ...] = (
    ProvenanceColumns,
    LayerTransitionLog,
    ColumnMetadata,
    TableMetadata,
    RowLedger,
    TransitionRecord,
    IngestionRecord,
)


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each catalog model, by model name."""
    return {
        model.__name__: model.model_json_schema(mode="serialization", by_alias=True)
        for model in CATALOG_MODELS
    }


def write_json_schemas(directory: str | Path) -> list[Path]:
    """Write ``<Model>.schema.json`` for every catalog model into ``directory``."""
    from jobforge.storage.atomic import atomic_write_text

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = target / f"{name}.schema.json"
        atomic_write_text(path, json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
