"""Finding one lineage record by its id in the JSON catalog store: the store
keeps the names of a table's lineage folder as it last listed them
(``jobforge_catalog_json.record_names``) instead of listing the folder for
every lookup, and still answers as a store that lists it every time would,
whatever was saved since, by this store or by another process, and whatever was
removed by hand. Real record files in a temporary data root; a second store on
the same root stands for another process."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from jobforge_catalog_json.paths import lineage_file_for
from jobforge_catalog_json.store import JsonCatalogStore

from jobforge.pipeline.config import PipelineConfig
from jobforge.pipeline.models import IngestionRecord

START = datetime(2026, 12, 7, 21, 0, 0, tzinfo=UTC)
TABLE = "tiny"


def _record(number: int, table: str = TABLE) -> IngestionRecord:
    """Record ``number`` of ``table``: its ids derived from the number, so that
    a second save of the same number is the same record."""
    started = START + timedelta(seconds=number)
    return IngestionRecord(
        ingestion_id=str(uuid.UUID(int=number + 1)),
        batch_id=str(uuid.UUID(int=10_000 + number)),
        table_name=table,
        source_file=f"/sources/{table}-{number}.csv",
        source_sha256="0" * 64,
        source_size_bytes=10,
        source_format="csv",
        reader="csv",
        target_file=f"/data/staged/{table}/batch={number}.parquet",
        row_count_in=number,
        row_count_out=number,
        started_at=started,
        completed_at=started,
        status="success",
    )


def _store(root: Path) -> JsonCatalogStore:
    return JsonCatalogStore(PipelineConfig(data_root=root))


def test_a_record_saved_by_another_store_after_a_listing_is_found(tmp_path: Path) -> None:
    here, elsewhere = _store(tmp_path), _store(tmp_path)
    here.save_record(_record(1))
    assert here.record(TABLE, _record(1).ingestion_id) == _record(1)  # the folder listed
    elsewhere.save_record(_record(2))
    assert here.record(TABLE, _record(2).ingestion_id) == _record(2)
    assert here.record(TABLE, str(uuid.UUID(int=999))) is None


def test_a_kept_name_whose_file_was_removed_is_not_found(tmp_path: Path) -> None:
    here = _store(tmp_path)
    here.save_record(_record(1))
    assert here.record(TABLE, _record(1).ingestion_id) == _record(1)
    lineage_file_for(here.config, _record(1)).unlink()
    assert here.record(TABLE, _record(1).ingestion_id) is None


def test_an_id_that_ends_another_name_is_told_apart_by_the_record(tmp_path: Path) -> None:
    """A name ending ``-<id>.json`` may be that of a record whose id only ends
    with ``<id>``: the record read says which it is."""
    here = _store(tmp_path)
    first = _record(1)
    here.save_record(first)
    tail = first.ingestion_id.split("-")[-1]  # "-<tail>.json" ends the first's name
    assert lineage_file_for(here.config, first).name.endswith(f"-{tail}.json")
    assert here.record(TABLE, tail) is None
    assert here.record(TABLE, first.ingestion_id) == first


def test_no_folder_no_record(tmp_path: Path) -> None:
    assert _store(tmp_path).record("never", str(uuid.UUID(int=1))) is None


@settings(max_examples=40, stateful_step_count=25, deadline=None)
class RecordLookups(RuleBasedStateMachine):
    """Saves here and elsewhere, removals by hand, lookups: a lookup gives the
    record saved and not removed, as a store that never kept a name gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="jobforge-record-names-"))
        self.here = _store(self.root)
        self.elsewhere = _store(self.root)
        self.saved: dict[tuple[int, str], IngestionRecord] = {}

    numbers = st.integers(min_value=0, max_value=15)
    tables = st.sampled_from([TABLE, "other"])

    @rule(number=numbers, table=tables)
    def save_here(self, number: int, table: str) -> None:
        record = _record(number, table)
        self.here.save_record(record)
        self.saved[(number, table)] = record

    @rule(number=numbers, table=tables)
    def save_elsewhere(self, number: int, table: str) -> None:
        record = _record(number, table)
        self.elsewhere.save_record(record)
        self.saved[(number, table)] = record

    @rule(number=numbers, table=tables)
    def remove_by_hand(self, number: int, table: str) -> None:
        record = self.saved.pop((number, table), None)
        if record is not None:
            lineage_file_for(self.here.config, record).unlink()

    @rule(number=numbers, table=tables)
    def look_up(self, number: int, table: str) -> None:
        wanted = _record(number, table).ingestion_id
        found = self.here.record(table, wanted)
        assert found == self.saved.get((number, table))
        assert found == _store(self.root).record(table, wanted)

    @invariant()
    def every_saved_record_is_found(self) -> None:
        for (_, table), record in self.saved.items():
            assert self.elsewhere.record(table, record.ingestion_id) == record

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


TestRecordLookups = RecordLookups.TestCase
