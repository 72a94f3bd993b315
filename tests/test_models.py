"""Issue 2: the record models: valid data, JSON round trips, and refusals that name the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from jobforge.pipeline.models import (
    CLASSIFICATIONS,
    PII_CLASSIFICATIONS,
    PROVENANCE_COLUMNS,
    ColumnMetadata,
    IngestionRecord,
    LayerTransitionLog,
    ProvenanceColumns,
    RowLedger,
    TableMetadata,
    TransitionRecord,
)

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BATCH = "6f1c3c52-8e0a-4d7e-9b8a-3c1d2e4f5a6b"
TRANSITION = "0b7d4f3e-2a1c-4e5f-8a9b-1c2d3e4f5a6b"


def provenance(**changes: Any) -> dict[str, Any]:
    data = {
        "_source_file": "noc_structure_en.csv",
        "_ingested_at": T0,
        "_batch_id": BATCH,
        "_layer": "staged",
    }
    data.update(changes)
    return data


def transition(**changes: Any) -> dict[str, Any]:
    data = {
        "transition_id": TRANSITION,
        "batch_id": BATCH,
        "source_layer": "staged",
        "target_layer": "bronze",
        "source_files": ["data/staged/noc/batch=1.parquet"],
        "target_file": "data/bronze/noc/batch=1.parquet",
        "row_count_in": 822,
        "row_count_out": 820,
        "transforms_applied": ["cast:level:int"],
        "started_at": T0,
        "completed_at": T0 + timedelta(seconds=2),
        "status": "partial",
    }
    data.update(changes)
    return data


def column(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "noc_code",
        "data_type": "String",
        "nullable": False,
        "description": "NOC 2021 code",
        "glossary_term_id": "noc-code",
        "source_columns": ["staged.noc.Code - NOC 2021 V1.0"],
        "pii_classification": "none",
    }
    data.update(changes)
    return data


def table(**changes: Any) -> dict[str, Any]:
    data = {
        "table_name": "noc_structure",
        "layer": "silver",
        "domain": "noc",
        "file_path": "data/silver/noc_structure",
        "row_count": 822,
        "column_count": 1,
        "file_size_bytes": 1024,
        "schema_version": "abc123",
        "created_at": T0,
        "updated_at": T0,
        "description": "NOC hierarchy",
        "business_purpose": "Classify occupations",
        "data_owner": "Statistics Canada",
        "data_steward": None,
        "upstream_tables": ["bronze.noc_structure"],
        "downstream_tables": [],
        "transform_script": None,
        "retention_days": 3650,
        "classification": "public",
        "columns": [column()],
    }
    data.update(changes)
    return data


def error_fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.value.errors()}


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


VALID: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (ProvenanceColumns, provenance()),
    (LayerTransitionLog, transition()),
    (LayerTransitionLog, transition(status="failed", errors=["boom"])),
    (ColumnMetadata, column()),
    (TableMetadata, table()),
    (TableMetadata, table(columns=[], column_count=7)),
]


@pytest.mark.parametrize(("model", "data"), VALID)
def test_valid_models_round_trip_through_json(model: type[BaseModel], data: dict) -> None:
    instance = model.model_validate(data)
    again = model.model_validate_json(instance.model_dump_json())
    assert again == instance


def test_provenance_uses_underscore_names_on_input_and_output() -> None:
    p = ProvenanceColumns.model_validate(provenance())
    assert p.source_file == "noc_structure_en.csv"
    assert p.batch_id == BATCH
    dumped = p.model_dump()
    assert list(dumped) == ["_source_file", "_ingested_at", "_batch_id", "_layer"]
    assert '"_batch_id":"6f1c3c52-8e0a-4d7e-9b8a-3c1d2e4f5a6b"' in p.model_dump_json()
    assert ProvenanceColumns.column_names() == list(PROVENANCE_COLUMNS)
    assert PROVENANCE_COLUMNS == ("_source_file", "_ingested_at", "_batch_id", "_layer")


def test_datetimes_are_serialised_with_utc_offset() -> None:
    text = LayerTransitionLog.model_validate(transition()).model_dump_json()
    assert '"started_at":"2026-11-30T09:00:00Z"' in text
    assert '"completed_at":"2026-11-30T09:00:02Z"' in text


def test_aware_datetime_in_other_zone_is_normalised_to_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    log = LayerTransitionLog.model_validate(
        transition(
            started_at=datetime(2026, 11, 30, 4, 0, tzinfo=eastern),
            completed_at=datetime(2026, 11, 30, 4, 0, 5, tzinfo=eastern),
        )
    )
    assert log.started_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert log.started_at.utcoffset() == timedelta(0)
    assert log.started_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (ProvenanceColumns, provenance(_ingested_at=datetime(2026, 11, 30, 9)), "_ingested_at"),
        (LayerTransitionLog, transition(started_at=datetime(2026, 11, 30, 9)), "started_at"),
        (TableMetadata, table(created_at=datetime(2026, 1, 1)), "created_at"),
    ],
)
def test_naive_datetimes_are_refused(model: type[BaseModel], data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    assert field in error_fields(exc)
    assert "timezone" in error_text(exc)


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (LayerTransitionLog, transition(row_count_in=-1), "row_count_in"),
        (LayerTransitionLog, transition(row_count_out=-5), "row_count_out"),
        (TableMetadata, table(row_count=-1), "row_count"),
        (TableMetadata, table(file_size_bytes=-1), "file_size_bytes"),
        (TableMetadata, table(retention_days=-30), "retention_days"),
        (LayerTransitionLog, transition(transition_id="not-a-uuid"), "transition_id"),
        (ProvenanceColumns, provenance(_batch_id="batch-7"), "_batch_id"),
        (LayerTransitionLog, transition(source_layer="gold"), "source_layer"),
        (LayerTransitionLog, transition(target_layer="staged"), "target_layer"),
        (LayerTransitionLog, transition(status="done"), "status"),
        (ProvenanceColumns, provenance(_layer="platinum"), "_layer"),
        (TableMetadata, table(layer="platinum"), "layer"),
        (TableMetadata, table(classification="top-secret"), "classification"),
        (ColumnMetadata, column(pii_classification="very"), "pii_classification"),
        (ColumnMetadata, column(nullable="perhaps"), "nullable"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    model: type[BaseModel], data: dict, field: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    assert field in error_fields(exc)


def test_completed_before_started_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        LayerTransitionLog.model_validate(transition(completed_at=T0 - timedelta(seconds=1)))
    assert "completed_at" in error_text(exc)


def test_failed_status_needs_errors() -> None:
    with pytest.raises(ValidationError) as exc:
        LayerTransitionLog.model_validate(transition(status="failed"))
    assert "errors" in error_text(exc)
    with pytest.raises(ValidationError):
        LayerTransitionLog.model_validate(transition(status="failed", errors=[]))


def test_column_count_must_agree_with_columns() -> None:
    with pytest.raises(ValidationError) as exc:
        TableMetadata.model_validate(table(column_count=3))
    assert "column_count" in error_text(exc)
    assert "3" in error_text(exc)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        TableMetadata.model_validate(table(ownr="me"))
    assert "ownr" in error_fields(exc)


def test_documented_vocabularies() -> None:
    assert CLASSIFICATIONS == ("public", "internal", "confidential", "restricted")
    assert PII_CLASSIFICATIONS == ("none", "quasi_identifier", "direct_identifier", "sensitive")


def test_uuid_is_normalised_to_lower_case() -> None:
    log = LayerTransitionLog.model_validate(transition(transition_id=TRANSITION.upper()))
    assert log.transition_id == TRANSITION


def test_ledger_balances_only_when_every_row_is_accounted_for() -> None:
    ledger = RowLedger(
        rows_in=100, rows_out=90, rows_quarantined=6, rows_deduplicated=3, rows_filtered=1
    )
    assert ledger.balanced
    short = RowLedger(rows_in=100, rows_out=90, rows_quarantined=6)
    assert not short.balanced
    assert "rows_in=100" in short.imbalance_message()
    assert "= 96" in short.imbalance_message()


def test_transition_record_refuses_an_unbalanced_ledger() -> None:
    with pytest.raises(ValidationError) as exc:
        TransitionRecord.model_validate(
            transition(
                table_name="noc",
                ledger={"rows_in": 822, "rows_out": 820, "rows_quarantined": 1},
            )
        )
    assert "ledger" in error_text(exc)
    ok = TransitionRecord.model_validate(
        transition(
            table_name="noc", ledger={"rows_in": 822, "rows_out": 820, "rows_quarantined": 2}
        )
    )
    assert TransitionRecord.model_validate_json(ok.model_dump_json()) == ok


def test_ingestion_record_accounts_for_every_source_record() -> None:
    base = {
        "ingestion_id": TRANSITION,
        "batch_id": BATCH,
        "table_name": "noc",
        "source_file": "noc.csv",
        "source_sha256": "a" * 64,
        "source_size_bytes": 10,
        "source_format": "csv",
        "reader": "readers",
        "target_file": "data/staged/noc/batch=1.parquet",
        "row_count_in": 10,
        "row_count_out": 9,
        "started_at": T0,
        "completed_at": T0,
        "status": "partial",
    }
    with pytest.raises(ValidationError):
        IngestionRecord.model_validate(base)
    record = IngestionRecord.model_validate(base | {"rows_quarantined": 1})
    assert IngestionRecord.model_validate_json(record.model_dump_json()) == record
    with pytest.raises(ValidationError) as exc:
        IngestionRecord.model_validate(base | {"rows_quarantined": 1, "source_sha256": "xyz"})
    assert "source_sha256" in error_fields(exc)
