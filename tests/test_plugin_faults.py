"""Plugin faults: a plugin that raises in any hook the engine calls.

The pointer switch (``_current.json``) is a transition's commit point:

- a fault **before** it (reader, ``before_transition``, the executor,
  enrichment) fails the step with an error naming the plugin and the hook, a
  failed lineage record carries the error, and nothing is published: the
  current version is the previous one and no new file is under a final name;
- a fault **after** it (``write_lineage``, ``write_table_metadata``,
  ``after_transition``, ``rows_quarantined``) cannot unpublish: the step's
  error says the version was published and what went wrong, the lineage record
  says what happened to the data (it was published), and whatever the faulty
  writer kept from being written is written by the next run on the table.

Every case runs on a table with a previous silver version: 822 NOC rows in,
the 516 unit groups (level 5) quarantined by a rule, 306 rows out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobforge import hookimpl
from jobforge.catalog.manager import CatalogManager
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import Rule, SilverSpec
from jobforge.errors import PluginError, TransitionError
from jobforge.pipeline.config import PipelineConfig

from .cli_helpers import jobforge
from .conftest import REAL_DATA
from .reliability import warehouse
from .reliability.faulty_plugins import (
    FailureSpy,
    Faulty,
    FaultyCatalog,
    FaultyClaim,
    FaultyExecutor,
    FaultyExecutorHook,
    FaultyLayout,
    FaultyReader,
)
from .reliability.warehouse import check_consistency, lineage_records

NOC = REAL_DATA / "noc_structure_en.csv"
SILVER = SilverSpec(dedupe="none", rules=[Rule(id="not_unit_group", expression="Level <> '5'")])


def _engine(root: Path, *plugins: object) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(root, plugins=plugins, entry_points=False))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A data root with ``noc`` through silver once (version 1 everywhere)."""
    data = tmp_path / "data"
    _engine(data).run_full_pipeline(NOC, "noc", silver=SILVER)
    return data


def _files(root: Path) -> set[Path]:
    return {p for p in warehouse.all_files(root) if p.suffix in (".parquet", ".json")}


def _silver_records(root: Path) -> list:
    return [r for r in lineage_records(root) if r.target_layer == "silver"]


def _promote_again(root: Path, *plugins: object) -> None:
    engine = _engine(root, *plugins)
    engine.promote_to_silver("noc", SILVER, force=True)


@pytest.mark.parametrize(
    "hook", ["before_transition", "enrich_table_metadata", "enrich_column_metadata"]
)
def test_a_fault_before_publication_publishes_nothing(root: Path, hook: str) -> None:
    previous = warehouse.pointer(root, "silver", "noc")
    before = _files(root)
    with pytest.raises(TransitionError) as caught:
        _promote_again(root, Faulty(hook))
    message = str(caught.value)
    assert message.startswith("bronze -> silver of 'noc' failed: plugin 'faulty-")
    assert f"raised in jobforge_{hook}: RuntimeError: injected fault in {hook}" in message
    assert warehouse.pointer(root, "silver", "noc") == previous
    new = _files(root) - before
    # the only new files: the failed record, and the catalog's data files are untouched
    assert [p.parent.name for p in new] == ["noc"] and "-bronze-silver-" in new.pop().name
    failed = _silver_records(root)[-1]
    assert failed.status == "failed" and f"jobforge_{hook}" in failed.errors[0]
    assert (failed.row_count_in, failed.row_count_out) == (822, 0)
    check_consistency(root, recovered=True, cwd=Path.cwd())


def test_an_executor_that_fails_after_writing_publishes_nothing(root: Path) -> None:
    previous = warehouse.pointer(root, "silver", "noc")
    before = _files(root)
    with pytest.raises(TransitionError) as caught:
        _promote_again(root, FaultyExecutor())
    assert str(caught.value) == (
        "bronze -> silver of 'noc' failed: RuntimeError: injected fault in write_silver "
        "(raised by the executor tests.reliability.faulty_plugins.BrokenSilverExecutor "
        "(write_silver))"
    )
    assert warehouse.pointer(root, "silver", "noc") == previous
    assert {p.name for p in _files(root) - before} == {
        f"{_silver_records(root)[-1].started_at:%Y%m%dT%H%M%S%fZ}-bronze-silver-"
        f"{_silver_records(root)[-1].transition_id}.json"
    }
    assert not [p for p in warehouse.all_files(root) if warehouse.is_temporary(p)]
    check_consistency(root, recovered=True, cwd=Path.cwd())


def test_a_reader_that_raises_is_named_and_recorded(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with pytest.raises(TransitionError) as caught:
        _engine(root, FaultyReader()).ingest(NOC, "noc")
    assert str(caught.value) == (
        "source -> staged of 'noc' failed: RuntimeError: injected fault in read "
        "(raised by the reader of plugin 'faulty-reader' (read))"
    )
    (record,) = lineage_records(root)
    assert record.status == "failed" and record.reader == "faulty-reader"
    assert warehouse.pointer(root, "staged", "noc") is None
    assert not list(root.glob("staged/**/*.parquet"))
    check_consistency(root, recovered=True, cwd=Path.cwd())


CLAIM_ERROR = (
    "plugin 'faulty-claim' (explicit) raised in jobforge_source_reader: "
    "RuntimeError: injected fault in source_reader"
)
NOC_SHA256 = "186bf1dce249a6b8cd0d87f6f52bfe6c700d6577e08216f5b1f7d4242e051071"  # sha256sum


def test_a_reader_claim_that_raises_is_recorded_and_nothing_is_published(tmp_path: Path) -> None:
    """Raising while claiming the file is a plugin's bug, not a refusal (as a file
    no reader claims is): the ingestion is on record as failed, the failed-transition
    hook is told, and the error raised is the one naming the plugin and the hook."""
    root = tmp_path / "data"
    spy = FailureSpy()
    engine = _engine(root, FaultyClaim(), spy)
    before = _files(root)
    with pytest.raises(PluginError) as caught:
        engine.ingest(NOC, "noc", "jobs")
    assert str(caught.value) == CLAIM_ERROR
    assert caught.value.plugin == "faulty-claim"
    assert isinstance(caught.value.__cause__, RuntimeError)
    (record,) = lineage_records(root)
    # the only new files are the failed record and the table's chain head, which names it
    head = root / "catalog" / "chain" / "noc.json"
    assert _files(root) - before == {
        root
        / "catalog"
        / "lineage"
        / "noc"
        / f"{record.started_at:%Y%m%dT%H%M%S%fZ}-ingest-{record.ingestion_id}.json",
        head,
    }
    assert json.loads(head.read_text(encoding="utf-8"))["record_id"] == record.ingestion_id
    assert (record.status, record.errors, record.reader) == (
        "failed",
        [CLAIM_ERROR],
        "faulty-claim",
    )
    assert (record.row_count_in, record.row_count_out, record.rows_quarantined) == (0, 0, 0)
    assert (record.source_file, record.source_sha256, record.source_size_bytes) == (
        NOC.as_posix(),
        NOC_SHA256,
        393128,
    )
    assert (record.table_name, record.domain, record.source_format) == ("noc", "jobs", "csv")
    assert record.target_file == str(root / "staged" / "noc" / f"batch={record.batch_id}.parquet")
    [(event, error)] = spy.calls
    assert (event.table, event.source_layer, event.target_layer, event.batch_id) == (
        "noc",
        "source",
        "staged",
        record.batch_id,
    )
    assert error is caught.value
    assert warehouse.pointer(root, "staged", "noc") is None
    assert warehouse.journals(root) == {}
    assert not list(root.glob("staged/**/*.parquet"))
    check_consistency(root, recovered=True, cwd=Path.cwd())


def test_a_failed_claim_whose_record_cannot_be_written_is_written_by_the_next_run(
    tmp_path: Path,
) -> None:
    root = tmp_path / "data"
    with pytest.raises(PluginError) as caught:
        _engine(root, FaultyClaim(), Faulty("write_lineage", layer="staged")).ingest(NOC, "noc")
    assert str(caught.value) == (
        f"{CLAIM_ERROR}; also: the failed record was not written (plugin "
        "'faulty-write_lineage' (explicit) raised in jobforge_write_lineage: RuntimeError: "
        "injected fault in write_lineage); the next run on 'noc' writes it"
    )
    assert caught.value.plugin == "faulty-claim"
    assert lineage_records(root) == []
    journal = warehouse.journals(root)["noc"]
    assert (journal.failed["status"], journal.failed["reader"]) == ("failed", "faulty-claim")

    result = _engine(root).ingest(NOC, "noc")  # the next run, without the faults
    assert result.rows == 822
    records = lineage_records(root)
    assert [(r.status, r.reader, r.errors) for r in records] == [
        ("failed", "faulty-claim", [CLAIM_ERROR]),
        ("success", "readers", None),
    ]
    assert warehouse.journals(root) == {}
    check_consistency(root, recovered=True, cwd=Path.cwd())


class _ClaimRaisingPluginError:
    """Raises jobforge's own PluginError while claiming: the host passes it on as
    it is, and still says whose hook raised it."""

    jobforge_plugin_name = "claim-plugin-error"

    @hookimpl
    def jobforge_source_reader(self, source: object) -> None:
        raise PluginError("licence server unreachable")


def test_a_plugin_error_raised_by_a_claim_is_recorded_with_its_plugin(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with pytest.raises(PluginError) as caught:
        _engine(root, _ClaimRaisingPluginError()).ingest(NOC, "noc")
    assert str(caught.value) == "licence server unreachable"
    (record,) = lineage_records(root)
    assert (record.status, record.errors, record.reader) == (
        "failed",
        ["licence server unreachable"],
        "claim-plugin-error",
    )


@pytest.mark.installed_plugins
def test_an_installed_plugin_raising_in_source_reader_fails_the_cli_on_record(
    tmp_path: Path,
) -> None:
    """The installed example distribution with ``JOBFORGE_EXAMPLE_FAULT=source_reader``
    (its module then implements ``jobforge_source_reader`` and raises), in a real
    ``jobforge ingest`` process."""
    root = tmp_path / "data"
    result = jobforge(
        "--data-root",
        str(root),
        "ingest",
        str(NOC),
        "--table",
        "noc",
        cwd=tmp_path,
        env={"JOBFORGE_DISABLE_PLUGINS": "", "JOBFORGE_EXAMPLE_FAULT": "source_reader"},
    )
    error = (
        "plugin 'example' (jobforge-example 0.1.0) raised in jobforge_source_reader: "
        "RuntimeError: injected fault in source_reader of noc_structure_en.csv "
        "(JOBFORGE_EXAMPLE_FAULT=source_reader)"
    )
    assert (result.code, result.out) == (1, "")
    assert "Traceback" not in result.err
    # the error on one line, after the structured log event every failed step writes;
    # the event names the error's type and the failed record, not the message (a
    # message may quote a row value)
    event, line = result.err.splitlines()
    assert line == f"error: {error}"
    logged = json.loads(event)
    assert (logged["event"], logged["level"], logged["table"], logged["error_type"]) == (
        "transition.failed",
        "error",
        "noc",
        "PluginError",
    )
    assert "error" not in logged
    [path] = (root / "catalog" / "lineage" / "noc").glob("*.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert {k: record[k] for k in ("record_type", "status", "errors", "reader")} == {
        "record_type": "ingestion",
        "status": "failed",
        "errors": [error],
        "reader": "example",
    }
    assert (record["row_count_in"], record["row_count_out"], record["rows_quarantined"]) == (
        0,
        0,
        0,
    )
    assert (record["source_file"], record["source_sha256"]) == (NOC.as_posix(), NOC_SHA256)
    assert record["batch_id"] == logged["batch_id"]
    assert record["ingestion_id"] == logged["record_id"]
    staged = root / "staged"
    assert sorted(p for p in staged.rglob("*") if p.is_file()) == []
    assert not (root / "catalog" / "tables" / "staged" / "noc.json").exists()
    assert not list((root / ".locks").glob("*.journal"))


@pytest.mark.parametrize("plugin", [FaultyExecutorHook(), FaultyLayout()], ids=type)
def test_a_fault_in_a_setup_hook_stops_the_engine_before_it_writes(
    tmp_path: Path, plugin: object
) -> None:
    name, hook = {
        FaultyExecutorHook: ("faulty-executor-hook", "jobforge_executor"),
        FaultyLayout: ("faulty-layout", "jobforge_resolve_layer_path"),
    }[type(plugin)]
    with pytest.raises(PluginError, match=f"plugin '{name}' \\(explicit\\) raised in {hook}: "):
        _engine(tmp_path / "data", plugin)
    assert not (tmp_path / "data").exists()


def test_a_failing_transition_failed_hook_does_not_hide_the_error(root: Path) -> None:
    with pytest.raises(TransitionError) as caught:
        _promote_again(root, Faulty("before_transition", "transition_failed"))
    message = str(caught.value)
    assert "raised in jobforge_before_transition: RuntimeError" in message
    assert message.endswith(
        "; also: plugin 'faulty-before_transition-transition_failed' (explicit) raised in "
        "jobforge_transition_failed: RuntimeError: injected fault in transition_failed"
    )
    failed = _silver_records(root)[-1]
    assert failed.status == "failed" and "jobforge_before_transition" in failed.errors[0]
    check_consistency(root, recovered=True, cwd=Path.cwd())


def test_when_the_lineage_writer_fails_the_next_run_writes_the_failed_record(
    root: Path,
) -> None:
    previous = warehouse.pointer(root, "silver", "noc")
    with pytest.raises(TransitionError) as caught:
        _promote_again(root, Faulty("before_transition", "write_lineage"))
    message = str(caught.value)
    assert "raised in jobforge_before_transition" in message
    assert "the failed record was not written (plugin 'faulty-" in message
    assert "raised in jobforge_write_lineage" in message
    assert message.endswith("; the next run on 'noc' writes it")
    assert [r.status for r in _silver_records(root)] == ["partial"]  # not written
    assert warehouse.pointer(root, "silver", "noc") == previous
    journal = warehouse.journals(root)["noc"]
    assert journal.failed["status"] == "failed"

    # while the writer is still broken, every run on the table stops there, saying why
    with pytest.raises(PluginError) as caught:
        _engine(root, Faulty("write_lineage")).promote_to_bronze("noc", force=True)
    assert str(caught.value).startswith(
        "while completing the interrupted silver transition of 'noc' (journal "
        f"{root / '.locks' / 'noc.journal'}): plugin 'faulty-write_lineage' (explicit) raised "
        "in jobforge_write_lineage"
    )
    assert warehouse.journals(root)["noc"] == journal

    _engine(root).promote_to_bronze("noc")  # any run on the table, without the fault
    statuses = [r.status for r in _silver_records(root)]
    assert statuses == ["partial", "failed"]
    assert "jobforge_before_transition" in _silver_records(root)[-1].errors[0]
    check_consistency(root, recovered=True, cwd=Path.cwd())


@pytest.mark.parametrize(
    ("hook", "written"),
    [
        ("write_lineage", "its lineage record or catalog entry was not written"),
        ("write_table_metadata", "its lineage record or catalog entry was not written"),
        ("after_transition", "but then plugin 'faulty-after_transition'"),
    ],
)
def test_a_fault_after_publication_says_the_version_was_published(
    root: Path, hook: str, written: str
) -> None:
    previous = warehouse.pointer(root, "silver", "noc")
    with pytest.raises(TransitionError) as caught:
        _promote_again(root, Faulty(hook))
    current = warehouse.pointer(root, "silver", "noc")
    assert current.version == previous.version + 1 and current.row_count == 306
    message = str(caught.value)
    assert message.startswith(
        f"bronze -> silver of 'noc' was published (version 2, record {current.record_id}), "
    )
    assert written in message and f"raised in jobforge_{hook}: RuntimeError" in message
    records = {r.transition_id: r for r in _silver_records(root)}
    if hook == "write_lineage":
        # the faulty writer ran first and stopped the fan-out: no record yet, and the
        # journal keeps it for the next run
        assert current.record_id not in records
        check_consistency(root, recovered=False, cwd=Path.cwd())
        _engine(root).promote_to_bronze("noc")
        records = {r.transition_id: r for r in _silver_records(root)}
    assert records[current.record_id].status == "partial"
    assert records[current.record_id].ledger.rows_quarantined == 516
    if hook == "write_table_metadata":
        _engine(root).promote_to_bronze("noc")  # completes the catalog entry
    check_consistency(root, recovered=True, cwd=Path.cwd())


def test_a_fault_in_rows_quarantined_names_the_plugin(root: Path) -> None:
    previous = warehouse.pointer(root, "silver", "noc")
    with pytest.raises(PluginError) as caught:
        _promote_again(root, Faulty("rows_quarantined"))
    assert str(caught.value) == (
        "plugin 'faulty-rows_quarantined' (explicit) raised in jobforge_rows_quarantined: "
        "RuntimeError: injected fault in rows_quarantined"
    )
    current = warehouse.pointer(root, "silver", "noc")
    assert current.version == previous.version + 1  # published before the hook ran
    assert _silver_records(root)[-1].status == "partial"
    check_consistency(root, recovered=True, cwd=Path.cwd())


# -- a catalog store (jobforge_catalog_store) that raises ----------------------------------------
@pytest.mark.parametrize("method", ["save_record", "save_entry"])
def test_a_faulty_catalog_store_is_named_and_the_next_run_completes_the_catalog(
    root: Path, method: str
) -> None:
    """The catalog store raises after the version switch: the error says the
    version was published and names the store's plugin and method; the record
    or entry is written by the next run on the table, through the same store."""
    previous = warehouse.pointer(root, "silver", "noc")
    faulty = FaultyCatalog(method)
    engine = _engine(root, faulty)
    assert type(engine.config.catalog.wrapped).__name__ == "BrokenStore"
    with pytest.raises(TransitionError) as caught:
        engine.promote_to_silver("noc", SILVER, force=True)
    current = warehouse.pointer(root, "silver", "noc")
    assert current.version == previous.version + 1 == 2 and current.row_count == 306
    assert str(caught.value) == (
        f"bronze -> silver of 'noc' was published (version 2, record {current.record_id}), "
        "but its lineage record or catalog entry was not written: the catalog store of "
        f"plugin 'faulty-catalog-{method}' (explicit) raised in {method}: RuntimeError: "
        f"injected fault in {method}; the next run on 'noc' writes them"
    )
    assert isinstance(caught.value.__cause__, PluginError)
    assert caught.value.__cause__.plugin == f"faulty-catalog-{method}"
    assert isinstance(caught.value.__cause__.__cause__, RuntimeError)
    records = {r.transition_id: r for r in _silver_records(root)}
    entry = json.loads((root / "catalog" / "tables" / "silver" / "noc.json").read_text("utf-8"))
    if method == "save_record":
        assert current.record_id not in records  # the record came first and failed
        assert entry["row_count"] == 306 and entry["updated_at"] < current.updated_at.isoformat()
    else:
        assert records[current.record_id].status == "partial"  # the record was saved
    assert "noc" in warehouse.journals(root)

    faulty.armed = False  # the same store, repaired: the next run on the table completes
    engine.promote_to_bronze("noc")
    records = {r.transition_id: r for r in _silver_records(root)}
    assert records[current.record_id].status == "partial"
    assert records[current.record_id].ledger.rows_quarantined == 516
    entry = json.loads((root / "catalog" / "tables" / "silver" / "noc.json").read_text("utf-8"))
    assert entry["row_count"] == 306
    assert warehouse.journals(root) == {}
    check_consistency(root, recovered=True, cwd=Path.cwd())


def test_a_catalog_store_that_raises_while_reading_is_named(root: Path) -> None:
    class Unreadable:
        jobforge_plugin_name = "unreadable-catalog"

        @hookimpl
        def jobforge_catalog_store(self) -> object:
            class Store:
                name = "unreadable"

                def records(self, table: str | None = None) -> list[object]:
                    raise OSError("disk gone")

            return Store()

    config = PipelineConfig(root, plugins=[Unreadable()], entry_points=False)
    with pytest.raises(PluginError) as caught:
        CatalogManager(config).lineage_records()
    assert str(caught.value) == (
        "the catalog store of plugin 'unreadable-catalog' (explicit) raised in records: "
        "OSError: disk gone"
    )
    assert caught.value.plugin == "unreadable-catalog"


def test_a_catalog_store_hook_that_raises_stops_the_first_step_before_it_writes(
    tmp_path: Path,
) -> None:
    class NoStore:
        jobforge_plugin_name = "no-store"

        @hookimpl
        def jobforge_catalog_store(self) -> None:
            raise RuntimeError("catalog database unreachable")

    engine = _engine(tmp_path / "data", NoStore())
    with pytest.raises(PluginError) as caught:
        engine.ingest(NOC, "noc")
    assert str(caught.value) == (
        "plugin 'no-store' (explicit) raised in jobforge_catalog_store: "
        "RuntimeError: catalog database unreachable"
    )
    assert not (tmp_path / "data").exists()
