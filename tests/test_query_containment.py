"""Issue 13, items 5, 11 and 6 (DuckDB side): what the query connection can reach.

- A view reads only files inside its layer folder: a planted link or a pointer
  listing ``../../outside/...`` is skipped with a warning naming the file; a
  folder that is not a table name is skipped, once, without failing the query.
- The connection itself can write nothing: with the statement guard switched
  off, ``COPY``, ``ATTACH``, ``EXPORT`` and settings changes all fail and every
  file is unchanged (sha256 before and after).
- Paths are literal: a data root under a folder named ``x[1]*?`` reads exactly
  its own files, not those of a decoy folder the name would match as a pattern.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from jobforge_polars.gold import write_gold

from jobforge.engine.executor import StepContext, StepTargets
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.errors import QueryError
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine
from jobforge.query import engine as engine_module
from jobforge.storage import versions
from jobforge.storage.pending import PendingFiles

from .cli_helpers import jobforge
from .conftest import REAL_DATA

NOC = REAL_DATA / "noc_structure_en.csv"
GOLD_SQL = "SELECT * FROM noc WHERE \"Level\" = '1'"  # the 10 broad categories


def _build(root: Path) -> PipelineEngine:
    engine = PipelineEngine(PipelineConfig(root, entry_points=False))
    engine.run_full_pipeline(NOC, "noc", dedupe="none")
    engine.promote_to_gold(GoldSpec(name="dim", inputs=["noc"], sql=GOLD_SQL))
    return engine


def _sha256s(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _planted_table(folder: Path, rows: int) -> Path:
    """A complete table folder (pointer and one batch file of ``rows`` secret rows)."""
    folder.mkdir(parents=True)
    data = folder / "batch=x.parquet"
    pl.DataFrame({"secret": [f"outside-{i}" for i in range(rows)]}).write_parquet(data)
    pointer = {
        "table": folder.name,
        "layer": "gold",
        "version": 1,
        "updated_at": "2026-01-01T00:00:00Z",
        "mode": "replace",
        "batches": [{"batch_id": "x", "file": data.name, "rows": rows}],
    }
    (folder / versions.POINTER_NAME).write_text(json.dumps(pointer))
    return data


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pristine data root (copied by the tests that plant things in it)."""
    base = tmp_path_factory.mktemp("contain")
    _build(base / "data")
    return base / "data"


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(built, root, symlinks=True)
    return root


# -- item 5: views stay inside their layer folder -------------------------------------------
def test_a_linked_table_folder_outside_the_layer_is_skipped(root: Path, tmp_path: Path) -> None:
    data = _planted_table(tmp_path / "outside" / "evil", rows=3)
    (root / "gold" / "evil").symlink_to(tmp_path / "outside" / "evil", target_is_directory=True)
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        assert [r.key for r in engine.relations("gold")] == ["gold.dim"]
        assert engine.warnings == [
            f"gold.evil: skipped: {root / 'gold' / 'evil' / '_current.json'} lists "
            f"{root / 'gold' / 'evil' / data.name}, which is {data}, "
            f"outside its folder {root / 'gold'}"
        ]
        with pytest.raises(QueryError, match="Table with name evil does not exist"):
            engine.query("SELECT * FROM gold.evil")
        assert engine.query("SELECT count(*) FROM gold.dim").item() == 10
    done = jobforge("--data-root", str(root), "query", "SELECT * FROM gold.evil", cwd=tmp_path)
    assert done.code == 1 and done.out == ""
    assert "outside-" not in done.out + done.err
    warning, error = done.err.splitlines()
    assert '"event": "query.skipped"' in warning and str(data) in warning
    assert error == "error: Catalog Error: Table with name evil does not exist!"


def test_a_pointer_listing_a_file_outside_the_layer_is_skipped(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    pl.DataFrame({"secret": ["outside-0"]}).write_parquet(outside / "batch=x.parquet")
    folder = root / "gold" / "dim"
    pointer = json.loads((folder / versions.POINTER_NAME).read_text())
    escape = "../../../outside/batch=x.parquet"
    assert (folder / escape).resolve() == outside / "batch=x.parquet"
    pointer["batches"][0]["file"] = escape
    (folder / versions.POINTER_NAME).write_text(json.dumps(pointer))
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        assert engine.relations("gold") == []
        (warning,) = engine.warnings
        assert warning.startswith(f"gold.dim: skipped: {folder / versions.POINTER_NAME} lists ")
        assert f"which is {outside / 'batch=x.parquet'}, outside its folder {root / 'gold'}" in (
            warning
        )
        # the other layers are untouched
        assert engine.query("SELECT count(*) FROM silver.noc").item() == 822


def test_a_linked_batch_file_is_skipped(root: Path, tmp_path: Path) -> None:
    """A link planted under the name of a listed batch file."""
    outside = tmp_path / "outside.parquet"
    pl.DataFrame({"secret": ["outside-0"]}).write_parquet(outside)
    current = versions.read_current(root / "silver", "noc")
    assert current is not None
    listed = root / "silver" / "noc" / current.batches[0].file
    listed.unlink()
    listed.symlink_to(outside)
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        assert [r.key for r in engine.relations("silver")] == []
        assert [w.split(": skipped:")[0] for w in engine.warnings] == ["silver.noc"]
        assert engine.query("SELECT count(*) FROM bronze.noc").item() == 822


def test_a_linked_quarantine_file_is_skipped(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.parquet"
    pl.DataFrame({"secret": ["outside-0"]}).write_parquet(outside)
    folder = root / "quarantine" / "noc" / "silver"
    folder.mkdir(parents=True)
    (folder / "batch=planted.parquet").symlink_to(outside)
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        assert engine.relations("quarantine") == []
        assert engine.warnings == [
            f"quarantine.noc: skipped: the file {folder / 'batch=planted.parquet'}, which is "
            f"{outside}, outside its folder {root / 'quarantine'}"
        ]


def test_a_linked_layer_folder_is_skipped(root: Path, tmp_path: Path) -> None:
    shutil.move(root / "gold", tmp_path / "gold-elsewhere")
    (root / "gold").symlink_to(tmp_path / "gold-elsewhere", target_is_directory=True)
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        assert engine.relations("gold") == []
        assert engine.warnings == [
            f"{root / 'gold'}: skipped: a symbolic link leads to it inside the data root"
        ]


def test_a_stray_folder_that_is_not_a_table_name_is_skipped_once(
    root: Path, tmp_path: Path
) -> None:
    _planted_table(root / "gold" / "bad name", rows=1)
    done = jobforge(
        "--data-root", str(root), "query", "SELECT count(*) AS n FROM gold.dim", cwd=tmp_path
    )
    assert done.code == 0, done.err
    assert done.out == "n\n10\n"
    (warning,) = done.err.splitlines()
    event = json.loads(warning)
    assert (event["event"], event["level"]) == ("query.skipped", "warning")
    assert (
        event["reason"] == f"{root / 'gold' / 'bad name'}: skipped: 'bad name' is not a table name"
    )


# -- item 11: the connection cannot write, even with the guard switched off -----------------
def test_with_the_guard_off_the_connection_writes_nothing(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = versions.read_current(root / "gold", "dim")
    assert current is not None
    gold_file = (root / "gold" / "dim" / current.batches[0].file).resolve()
    before = _sha256s(tmp_path)
    attempts = [
        f"COPY (SELECT 1 AS x) TO '{gold_file}' (FORMAT parquet)",
        f"COPY (SELECT 1 AS x) TO '{gold_file}' (FORMAT parquet, USE_TMP_FILE false)",
        f"COPY gold.dim TO '{tmp_path}/copy.parquet'",
        f"COPY (SELECT 1) TO '{root}/gold/new.csv'",
        f"EXPORT DATABASE '{tmp_path}/export'",
        f"ATTACH '{tmp_path}/other.duckdb' AS other",
        f"ATTACH '{gold_file}' AS other",
        "SET disabled_filesystems = ''",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        f"SET allowed_directories = ['{tmp_path}']",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"LOAD '{tmp_path}/planted.duckdb_extension'",
        f"SELECT * FROM read_csv('{root}/catalog/tables/gold/dim.json')",
        f"SELECT * FROM read_parquet('{gold_file}')",
        f"SELECT * FROM '{gold_file}'",
    ]
    with QueryEngine(PipelineConfig(root, entry_points=False)) as engine:
        # 1. the guard switched off: every statement reaches DuckDB
        monkeypatch.setattr(engine_module, "read_only_statement", lambda sql: sql)
        for sql in attempts:
            with pytest.raises(QueryError) as caught:
                engine.query(sql)
            assert "statements are not allowed" not in str(caught.value), sql
            assert caught.value.args[0].startswith(("Permission Error", "Invalid Input Error")), (
                sql,
                caught.value,
            )
        # 2. the locked connection itself, called directly
        con = engine._connection()
        for sql in attempts:
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        # (DuckDB 2.0 does not report disabled_filesystems back: its effect is
        # what the attempts above show, "File system LocalFileSystem has been disabled")
        settings = con.execute(
            "SELECT current_setting('enable_external_access'), "
            "current_setting('lock_configuration')"
        ).fetchall()
        assert settings == [(False, True)]
        assert engine.query("SELECT count(*) FROM gold.dim").item() == 10
    assert _sha256s(tmp_path) == before


# -- item 6 (DuckDB side): paths are literal -----------------------------------------------------
def test_a_data_root_with_pattern_characters_reads_exactly_its_files(
    built: Path, tmp_path: Path
) -> None:
    """``x[1]*?`` as a pattern matches ``x1ab`` (and not itself): a decoy data
    root there, with the same file names but 3 rows per file, must not be read,
    by the views or by gold SQL. (The data root is built elsewhere and moved:
    this test is about the DuckDB side.)"""
    real = tmp_path / "x[1]*?" / "data"
    decoy = tmp_path / "x1ab" / "data"
    shutil.copytree(built, real)
    shutil.copytree(built, decoy)
    for layer, table in (("staged", "noc"), ("bronze", "noc"), ("silver", "noc"), ("gold", "dim")):
        current = versions.read_current(decoy / layer, table)
        assert current is not None
        file = decoy / layer / table / current.batches[0].file
        pl.read_parquet(file).head(3).write_parquet(file)
    with QueryEngine(PipelineConfig(real, entry_points=False)) as query:
        for layer in ("staged", "bronze", "silver"):
            assert query.query(f"SELECT count(*) FROM {layer}.noc").item() == 822
        assert query.query("SELECT count(*) FROM gold.dim").item() == 10
        assert query.warnings == []
    # gold SQL over the silver files of the real root, written by the gold step itself
    current = versions.read_current(real / "silver", "noc")
    assert current is not None
    inputs = {"noc": current.files(real / "silver" / "noc")}
    pending = PendingFiles()
    target = tmp_path / "out" / "batch=g.parquet"
    ctx = StepContext(table="g", batch_id="g", processed_at=datetime.now(UTC))
    spec = GoldSpec(name="g", inputs=["noc"], sql="SELECT * FROM noc")
    outcome = write_gold(inputs, spec, StepTargets(data=target), ctx, pending)
    pending.commit()
    assert outcome.rows_out == 822
    assert pl.read_parquet(target).height == 822
