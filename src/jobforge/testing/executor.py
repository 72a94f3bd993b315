"""The executor conformance suite: what every executor must do, checked on one
small source whose expected outputs were worked out by hand (below, row by row).

An executor package runs it against its own executor with one fixture::

    # tests/test_conformance.py of the package
    import pytest
    from jobforge.testing.executor import *  # noqa: F403  (the tests)

    @pytest.fixture
    def jobforge_executor_name() -> str:
        return "myengine"   # [engine] executor: the name its plugin answers to

and, where the executor takes settings (``[engine.<name>]``, its plugin's
settings), a second one::

    @pytest.fixture
    def jobforge_executor_settings() -> dict[str, dict[str, object]]:
        return {"myengine": {"remote": "sc://127.0.0.1:15002"}}

The executor's plugin must be installed (an entry point) or bundled. The cases
where engines disagree unless an executor takes care (white space, control
characters, special floats, datetimes without a format, gold division) are in
:mod:`jobforge.testing.executor_edges`; this module imports them, so they run
with the rest. Each test runs the steps through
:class:`~jobforge.engine.pipeline.PipelineEngine` with
``PipelineConfig(executor=...)`` and reads what was published.

The source, ``t.csv`` (records 1-8; the header is not a record)::

    1 A1,5,2020-01-02,yes,first       kept
    2 B2,x,2020-01-03,no,bad int      bronze: 'x' is not an int
    3 A1,5,2020-01-02,yes,first       silver: a duplicate of record 1
    4 C3, 12 ,,Y,spaces               kept: ' 12 ' is 12, '' is null, 'Y' is true; warned
    5 D4,-7,2021-02-03,n,negative     silver: rule n > 0 fails (error)
    6 E5,6,2021-13-01,true,bad date   bronze: month 13
    7 F6,8.5,2022-03-04,maybe,two     bronze: '8.5' is not an int, 'maybe' not a bool
    8 G7,9,2020-01-01,yes,x,extra     staged: one field too many
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from jobforge.engine.executor import transform
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import BronzeSchema, CastSpec, GoldSpec, Rule, SilverSpec
from jobforge.errors import ContractError, TransitionError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal
from jobforge.storage.atomic import TEMP_PREFIX
from jobforge.testing.executor_edges import (
    test_control_characters_and_special_floats_are_kept,
    test_datetimes_without_a_format,
    test_gold_integer_division_and_modulo,
    test_gold_integer_division_of_non_integers,
    test_unicode_white_space_around_values,
)

__all__ = [
    "jobforge_executor_name",
    "jobforge_executor_settings",
    "jobforge_hash_collisions",
    "test_arrow_transform_breaking_the_rules_is_refused",
    "test_arrow_transforms_run_per_batch",
    "test_bronze_casts_and_their_failures",
    "test_colliding_hashes_never_drop_a_distinct_row",
    "test_control_characters_and_special_floats_are_kept",
    "test_datetimes_without_a_format",
    "test_executor_is_the_one_named",
    "test_failure_leaves_the_version_and_records_it",
    "test_gold_integer_division_and_modulo",
    "test_gold_integer_division_of_non_integers",
    "test_gold_sql_with_lineage",
    "test_killed_during_a_step_leaves_the_old_version_and_nothing_after_a_rerun",
    "test_silver_rules_and_exact_duplicates",
    "test_staged_fidelity_and_reader_rejects",
    "test_unicode_white_space_around_values",
]

SOURCE = (
    "code,n,when,flag,note\n"
    "A1,5,2020-01-02,yes,first\n"
    "B2,x,2020-01-03,no,bad int\n"
    "A1,5,2020-01-02,yes,first\n"
    "C3, 12 ,,Y,spaces\n"
    "D4,-7,2021-02-03,n,negative\n"
    "E5,6,2021-13-01,true,bad date\n"
    "F6,8.5,2022-03-04,maybe,two\n"
    "G7,9,2020-01-01,yes,x,extra\n"
)
BRONZE = BronzeSchema(
    cast={"n": CastSpec(type="int"), "when": CastSpec(type="date"), "flag": CastSpec(type="bool")}
)
SILVER = SilverSpec(
    rules=[
        Rule(id="positive", expression="n > 0", message="n must be positive"),
        Rule(id="no_spaces", expression="note <> 'spaces'", severity="warn"),
    ]
)
GOLD = GoldSpec(
    name="by_flag",
    inputs=["t"],
    sql="SELECT flag, count(*) AS k, sum(n) AS total, flatten(list(_lineage)) AS _lineage "
    "FROM t GROUP BY flag",
)
STAGED_ORDER = ["code", "n", "when", "flag", "note", "_source_file", "_ingested_at"]
STAGED_ORDER += ["_batch_id", "_layer", "_source_row"]
Settings = dict[str, dict[str, Any]]
"""Plugin settings by plugin name (``PipelineConfig(plugin_settings=...)``)."""


@pytest.fixture
def jobforge_executor_name() -> str:
    """The executor under test (override it in an executor package)."""
    return "polars"


@pytest.fixture
def jobforge_executor_settings() -> Settings:
    """Plugin settings of the runs (``PipelineConfig(plugin_settings=...)``):
    none unless an executor package overrides it."""
    return {}


def _engine(tmp_path: Path, executor: str, settings: Settings) -> tuple[PipelineEngine, Path]:
    source = tmp_path / "t.csv"
    source.write_text(SOURCE, encoding="utf-8")
    config = PipelineConfig(tmp_path / "data", executor=executor, plugin_settings=settings)
    return PipelineEngine(config), source


def _read(path: Path | list[Path] | None) -> pl.DataFrame:
    """The rows of a file, or of a version's part files (every one must exist)."""
    paths = path if isinstance(path, list) else [path]
    assert paths and all(p is not None and p.exists() for p in paths), paths
    return literal.scan_parquet([p for p in paths if p is not None]).collect().sort("_source_row")


def _set_apart(engine: PipelineEngine, area: str) -> pl.DataFrame:
    files = engine.config.store.set_apart_files("t", area)
    assert len(files) == 1, files
    return _read(files[0])


def test_executor_is_the_one_named(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, _ = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    assert engine.executor.name == jobforge_executor_name


def test_staged_fidelity_and_reader_rejects(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    result = engine.ingest(source, "t")
    assert (result.rows, result.rows_quarantined) == (7, 1)
    staged = _read(result.path)
    assert staged.columns == STAGED_ORDER
    assert staged.get_column("_source_row").to_list() == [1, 2, 3, 4, 5, 6, 7]
    assert staged.get_column("n").to_list() == ["5", "x", "5", " 12 ", "-7", "6", "8.5"]
    assert staged.get_column("when").to_list()[3] == ""  # an empty field is empty text
    assert set(staged.get_column("_layer")) == {"staged"}
    assert set(staged.get_column("_batch_id")) == {result.batch_id}
    assert staged.schema["_ingested_at"] == pl.Datetime("us", "UTC")
    assert staged.schema["_source_row"] == pl.Int64
    rejected = _set_apart(engine, "staged")
    assert rejected.get_column("_source_row").to_list() == [8]
    assert rejected.get_column("layer").to_list() == ["staged"]
    assert rejected.get_column("severity").to_list() == ["error"]
    assert rejected.get_column("column").to_list() == [None]
    assert json.loads(rejected["row"][0]) == ["G7", "9", "2020-01-01", "yes", "x", "extra"]
    record = result.record
    assert record is not None
    assert (record.row_count_in, record.row_count_out, record.rows_quarantined) == (8, 7, 1)


def test_bronze_casts_and_their_failures(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(source, "t")
    result = engine.promote_to_bronze("t", BRONZE)
    ledger = result.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (7, 4, 3)
    assert ledger.balanced
    bronze = _read(result.files)
    assert bronze.get_column("_source_row").to_list() == [1, 3, 4, 5]
    assert bronze.get_column("n").to_list() == [5, 5, 12, -7]
    assert bronze.schema["n"] == pl.Int64
    assert bronze.schema["when"] == pl.Date
    assert [str(d) if d else None for d in bronze["when"]] == [
        "2020-01-02",
        "2020-01-02",
        None,
        "2021-02-03",
    ]
    assert bronze.get_column("flag").to_list() == [True, True, True, False]
    assert set(bronze.get_column("_layer")) == {"bronze"}
    assert bronze.columns[-1] == "_processed_at"
    bad = _read(result.quarantine_files)
    assert bad.get_column("_source_row").to_list() == [2, 6, 7]
    assert bad.get_column("rule_id").to_list() == ["cast:n", "cast:when", "cast:n"]
    assert bad.get_column("column").to_list() == ["n", "when", "n, flag"]
    assert bad.get_column("message").to_list() == [
        "n: cannot cast 'x' to int",
        "when: cannot cast '2021-13-01' to date",
        "n: cannot cast '8.5' to int; flag: cannot cast 'maybe' to bool",
    ]
    assert json.loads(bad["row"][2]) == {
        "code": "F6",
        "n": "8.5",
        "when": "2022-03-04",
        "flag": "maybe",
        "note": "two",
    }
    assert set(bad.get_column("layer")) == {"bronze"}


def test_silver_rules_and_exact_duplicates(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(source, "t")
    engine.promote_to_bronze("t", BRONZE)
    result = engine.promote_to_silver("t", SILVER)
    record = result.record
    ledger = record.ledger
    assert (ledger.rows_in, ledger.rows_out) == (4, 2)
    assert (ledger.rows_quarantined, ledger.rows_deduplicated, ledger.rows_warned) == (1, 1, 1)
    assert ledger.balanced
    assert record.rule_counts == {"positive": 1, "no_spaces": 1}
    silver = _read(result.files)
    assert silver.get_column("_source_row").to_list() == [1, 4]
    assert set(silver.get_column("_layer")) == {"silver"}
    bad = _read(result.quarantine_files)
    assert bad.select("_source_row", "rule_id", "column", "message").rows() == [
        (5, "positive", "n", "n must be positive")
    ]
    assert json.loads(bad["row"][0]) == {
        "code": "D4",
        "n": -7,
        "when": "2021-02-03",
        "flag": False,
        "note": "negative",
    }
    dups = _read(result.duplicates_files)
    assert dups.select("_source_row", "duplicate_of", "table_name").rows() == [(3, 1, "t")]
    assert json.loads(dups["row"][0]) == {
        "code": "A1",
        "n": 5,
        "when": "2020-01-02",
        "flag": True,
        "note": "first",
    }


def test_gold_sql_with_lineage(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    batch = engine.ingest(source, "t").batch_id
    engine.promote_to_bronze("t", BRONZE)
    engine.promote_to_silver("t", SILVER)
    result = engine.promote_to_gold(GOLD)
    gold = literal.scan_parquet(result.files).collect()
    assert gold.get_column("flag").to_list() == [True]
    assert gold.get_column("k").to_list() == [2]
    assert gold.get_column("total").to_list() == [17]
    assert sorted(gold["_lineage"][0]) == [f"t:{batch}:1", f"t:{batch}:4"]
    assert set(gold.get_column("_layer")) == {"gold"}
    assert result.record.ledger.rows_in == 2


def test_failure_leaves_the_version_and_records_it(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine, source = _engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    engine.ingest(source, "t")
    with pytest.raises(TransitionError) as caught:
        engine.promote_to_bronze("t", BronzeSchema(required=["missing"]))
    assert "bronze t: missing source column(s) 'missing'" in str(caught.value)
    assert engine.current("bronze", "t") is None
    records = sorted((engine.config.catalog_lineage_path() / "t").glob("*.json"))
    statuses = [json.loads(p.read_text(encoding="utf-8"))["status"] for p in records]
    assert statuses[-1] == "failed"


# -- arrow transforms ----------------------------------------------------------------------
# Silver of the source above keeps rows 1 (A1, 5, 2020-01-02) and 4 (C3, 12, no date);
# keep_dated_and_scale drops row 4 (no date), lower-cases the code and adds n10 = n * 10.


@transform(kind="arrow")
def keep_dated_and_scale(batch: pa.RecordBatch) -> pa.RecordBatch:
    """An arrow transform: drops undated rows, lower-cases ``code``, adds ``n10``."""
    batch = batch.filter(pc.is_valid(batch.column("when")))
    code = batch.schema.get_field_index("code")
    batch = batch.set_column(code, "code", pc.utf8_lower(batch.column("code")))
    return batch.append_column("n10", pc.multiply(batch.column("n"), 10))


@transform(kind="arrow")
def doubles_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Adds rows: refused (a silver transform may not)."""
    both = pa.Table.from_batches([batch, batch]).combine_chunks().to_batches()
    return both[0] if both else batch


@transform(kind="arrow")
def drops_batch_id(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Drops a provenance column: refused."""
    return batch.drop_columns(["_batch_id"])


def _silver_engine(tmp_path: Path, executor: str, settings: Settings) -> PipelineEngine:
    """Staged and bronze of the source, under an executor that runs arrow
    transforms (the tests that use it are skipped for one that does not)."""
    engine, source = _engine(tmp_path, executor, settings)
    if "arrow" not in engine.executor.capabilities.transforms:
        pytest.skip(f"the executor {executor!r} declares no arrow transforms")
    engine.ingest(source, "t")
    engine.promote_to_bronze("t", BRONZE)
    return engine


def test_arrow_transforms_run_per_batch(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    engine = _silver_engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    spec = SILVER.model_copy(update={"transforms": [keep_dated_and_scale]})
    result = engine.promote_to_silver("t", spec)
    ledger = result.record.ledger
    assert (ledger.rows_in, ledger.rows_out, ledger.rows_quarantined) == (4, 1, 1)
    assert (ledger.rows_deduplicated, ledger.rows_filtered) == (1, 1)
    assert ledger.balanced
    assert "transform:jobforge.testing.executor:keep_dated_and_scale" in (
        result.record.transforms_applied
    )
    silver = _read(result.files)
    assert silver.select("_source_row", "code", "n", "n10").rows() == [(1, "a1", 5, 50)]
    assert set(silver.get_column("_layer")) == {"silver"}
    assert silver.columns[-1] == "n10"


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (doubles_rows, "transform jobforge.testing.executor:doubles_rows turned a batch of"),
        (drops_batch_id, "transforms dropped provenance column(s) _batch_id"),
    ],
    ids=["adds-rows", "drops-provenance"],
)
def test_arrow_transform_breaking_the_rules_is_refused(
    tmp_path: Path,
    jobforge_executor_name: str,
    jobforge_executor_settings: Settings,
    fn: Callable[..., Any],
    message: str,
) -> None:
    engine = _silver_engine(tmp_path, jobforge_executor_name, jobforge_executor_settings)
    with pytest.raises((TransitionError, ContractError)) as caught:
        engine.promote_to_silver("t", SILVER.model_copy(update={"transforms": [fn]}))
    assert "silver t: " in str(caught.value)
    assert message in str(caught.value)
    if fn is doubles_rows:
        assert "may drop or change rows but not add them" in str(caught.value)
    assert "\n" not in str(caught.value).strip()
    assert engine.current("silver", "t") is None
    assert _leftovers(engine.config.data_root) == []


def _leftovers(root: Path) -> list[str]:
    """Temporary files and folders (and DuckDB spill folders) under ``root``."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.startswith(TEMP_PREFIX) or "spill" in p.name or p.suffix == ".journal"
    )


# -- exact de-duplication under forced hash collisions -------------------------------------
# Rows 1-12. Equal rows: 3 = 1, 6 = 2, 9 = 1, 12 = 4; row 10 differs from row 2 only by a
# trailing space in the text, row 11 from row 1 only by -0 in the amount (the float cast
# makes it -0.0, equal to 0.0), row 5 is rejected by the rule, and row 8 is a copy of the
# rejected row 5 (rejected too, so not a duplicate).
DEDUPE_CSV = """code,label,amount
A,x,0
B,y,1.5
A,x,0
C,,2
D,z,-1
B,y,1.5
E,w,
D,z,-1
A,x,0
B,y ,1.5
A,x,-0
C,,2
"""
DEDUPE_KEPT = [1, 2, 4, 7, 10]
DEDUPE_REJECTED = [5, 8]
DUPLICATE_OF = {3: 1, 6: 2, 9: 1, 11: 1, 12: 4}
"""Each dropped row -> the kept row it equals."""


@pytest.fixture
def jobforge_hash_collisions() -> Callable[[int], contextlib.AbstractContextManager[object]]:
    """``force(per_pass)``: a context manager under which the executor's row hashes
    collide (every row in one of a few buckets) and at most ``per_pass`` hashes or
    candidates are handled per pass. Override it in an executor package that
    de-duplicates by hash; the default (an executor that compares full values and
    has no hash to force) forces nothing."""
    return lambda per_pass: contextlib.nullcontext()


@pytest.mark.parametrize("per_pass", [1_000_000, 2])
def test_colliding_hashes_never_drop_a_distinct_row(
    tmp_path: Path,
    jobforge_executor_name: str,
    jobforge_executor_settings: Settings,
    jobforge_hash_collisions: Callable[[int], contextlib.AbstractContextManager[object]],
    per_pass: int,
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(DEDUPE_CSV, encoding="utf-8")
    engine = PipelineEngine(
        PipelineConfig(
            tmp_path / "data",
            executor=jobforge_executor_name,
            plugin_settings=jobforge_executor_settings,
        )
    )
    with jobforge_hash_collisions(per_pass):
        result = engine.run_full_pipeline(
            source,
            "rows",
            bronze_schema=BronzeSchema(cast={"amount": CastSpec(type="float")}),
            silver=SilverSpec(
                dedupe="row", rules=[Rule(id="not_negative", expression="amount >= 0")]
            ),
        )
    silver = result.silver
    assert silver is not None
    assert _read(silver.files).get_column("_source_row").to_list() == DEDUPE_KEPT
    dups = _read(silver.duplicates_files)
    assert dict(dups.select("_source_row", "duplicate_of").rows()) == DUPLICATE_OF
    by_row = {r: json.loads(v) for r, v in dups.select("_source_row", "row").rows()}
    assert by_row[3] == {"code": "A", "label": "x", "amount": 0.0}
    assert by_row[11] == {"code": "A", "label": "x", "amount": -0.0}
    assert str(by_row[11]["amount"]) == "-0.0"  # as read, not as the row kept
    assert by_row[12] == {"code": "C", "label": "", "amount": 2.0}
    assert _read(silver.quarantine_files).get_column("_source_row").to_list() == DEDUPE_REJECTED
    ledger = silver.record.ledger
    assert (ledger.rows_in, ledger.rows_out) == (12, 5)
    assert (ledger.rows_deduplicated, ledger.rows_quarantined) == (5, 2)
    assert _leftovers(engine.config.data_root) == []


# -- recovery after SIGKILL ------------------------------------------------------------------
MARKER = "JOBFORGE_TEST_MARKER"


@transform(kind="arrow")
def hangs(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Says it is running (the file named by ``$JOBFORGE_TEST_MARKER``) on its first
    rows, then waits to be killed."""
    if batch.num_rows:
        Path(os.environ[MARKER]).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(600)
    return batch


CHILD = """
import json
import sys
from pathlib import Path
from jobforge.engine.pipeline import PipelineEngine
from jobforge.pipeline.config import PipelineConfig
from jobforge.testing.executor import SILVER, hangs

settings = json.loads(sys.argv[3])
engine = PipelineEngine(
    PipelineConfig(Path(sys.argv[1]), executor=sys.argv[2], plugin_settings=settings)
)
engine.promote_to_silver("t", SILVER.model_copy(update={"transforms": [hangs]}))
"""


def _killed_while_running(data: Path, executor: str, settings: Settings, marker: Path) -> None:
    """Run silver in a child process with :func:`hangs`; SIGKILL its whole process
    group once the transform runs (the executor is mid-step, outputs half-written)."""
    env = {**os.environ, MARKER: str(marker)}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(data), executor, json.dumps(settings)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not marker.exists():
            if child.poll() is not None:
                err = child.stderr.read() if child.stderr else b""
                raise AssertionError(f"the child ended first: {err.decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("the transform never ran")
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        if child.stderr is not None:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def test_killed_during_a_step_leaves_the_old_version_and_nothing_after_a_rerun(
    tmp_path: Path, jobforge_executor_name: str, jobforge_executor_settings: Settings
) -> None:
    settings = jobforge_executor_settings
    engine = _silver_engine(tmp_path, jobforge_executor_name, settings)
    old = engine.promote_to_silver("t", SILVER)
    old_version = engine.current("silver", "t")
    assert old_version is not None
    old_rows = _read(old.files).rows()
    data = engine.config.data_root
    _killed_while_running(data, jobforge_executor_name, settings, tmp_path / "running")
    # right after the kill: the old version is current, whole
    again = PipelineEngine(
        PipelineConfig(data, executor=jobforge_executor_name, plugin_settings=settings)
    )
    assert again.current("silver", "t") == old_version
    assert _read(old.files).rows() == old_rows
    # the step run again: the new version, and nothing the killed run left behind
    new = again.promote_to_silver(
        "t", SILVER.model_copy(update={"transforms": [keep_dated_and_scale]})
    )
    assert _read(new.files).select("_source_row", "code", "n10").rows() == [(1, "a1", 50)]
    assert new.record.ledger.balanced
    assert _leftovers(data) == []
