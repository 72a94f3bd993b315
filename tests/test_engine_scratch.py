"""The reader's scratch folder (``SourceSpec.scratch``): made by the engine beside
the table's staged files under a temporary name, gone when the ingestion ends,
and removed by the next run on the table if a crash left it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.dataset as ds
import pytest

from jobforge import hookimpl
from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import TransitionError
from jobforge.pipeline.config import PipelineConfig
from jobforge.sources.base import ReadResult, SourceSpec
from jobforge.storage.atomic import TEMP_PREFIX, TEMP_SUFFIX

from .engine_support import write_csv


class _ScratchReader:
    """Reads a CSV through a parquet copy kept in the scratch folder, so that the
    staged step can only succeed if the folder lives until it is written."""

    format = "csv"

    def __init__(self, spec: SourceSpec, seen: list[Path], fail: bool) -> None:
        self.spec = spec
        self.seen = seen
        self.fail = fail

    def read(self) -> ReadResult:
        scratch = self.spec.scratch
        assert scratch is not None
        self.seen.append(scratch)
        copy = scratch / "copy.parquet"
        pl.read_csv(self.spec.path, infer_schema=False).with_row_index(
            "_source_row", offset=1
        ).write_parquet(copy)
        if self.fail:
            raise RuntimeError("the reader broke after writing its scratch file")
        # read when the engine writes staged, so the file must still be there
        return ReadResult(
            batches=lambda: ds.dataset(copy, format="parquet").scanner().to_reader(), records=2
        )


class _ScratchPlugin:
    def __init__(self, fail: bool = False) -> None:
        self.seen: list[Path] = []
        self.fail = fail

    @hookimpl(tryfirst=True)
    def jobforge_source_reader(self, source: SourceSpec, config: Any) -> Any:
        return _ScratchReader(source, self.seen, self.fail)


def _engine(tmp_path: Path, plugin: _ScratchPlugin) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False), plugins=[plugin])


def test_the_scratch_folder_is_beside_the_staged_files_and_gone_after(tmp_path: Path) -> None:
    plugin = _ScratchPlugin()
    engine = _engine(tmp_path, plugin)
    source = write_csv(tmp_path / "t.csv", ["code", "n"], [["a", "1"], ["b", "2"]])
    result = engine.ingest(source, "t")
    (scratch,) = plugin.seen
    table_dir = engine.config.layer_path("staged") / "t"
    assert scratch.parent == table_dir
    assert scratch.name.startswith(TEMP_PREFIX) and scratch.name.endswith(TEMP_SUFFIX)
    assert not scratch.exists()
    staged = pl.read_parquet(result.path)
    assert staged.select("code", "n", "_source_row").rows() == [("a", "1", 1), ("b", "2", 2)]
    assert sorted(p.name for p in table_dir.iterdir()) == ["_current.json", result.path.name]


def test_a_failed_read_removes_the_scratch_folder_too(tmp_path: Path) -> None:
    plugin = _ScratchPlugin(fail=True)
    engine = _engine(tmp_path, plugin)
    source = write_csv(tmp_path / "t.csv", ["code", "n"], [["a", "1"], ["b", "2"]])
    with pytest.raises(TransitionError, match="the reader broke after writing"):
        engine.ingest(source, "t")
    (scratch,) = plugin.seen
    assert not scratch.exists()
    # nothing is left behind: not even the table's folder, which the ingestion made
    assert not (engine.config.layer_path("staged") / "t").exists()


def test_the_next_run_removes_a_scratch_folder_a_crash_left(tmp_path: Path) -> None:
    plugin = _ScratchPlugin()
    engine = _engine(tmp_path, plugin)
    table_dir = engine.config.layer_path("staged") / "t"
    left = table_dir / f"{TEMP_PREFIX}{'0' * 32}-reader{TEMP_SUFFIX}"
    (left / "nested").mkdir(parents=True)
    (left / "nested" / "records.parquet").write_bytes(b"half a parquet file")
    source = write_csv(tmp_path / "t.csv", ["code", "n"], [["a", "1"], ["b", "2"]])
    engine.ingest(source, "t")
    assert not left.exists()
