"""The query views of Delta tables read delta-rs' Arrow datasets, checked to
read exactly the files of the version jobforge published."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine

CSV = "code,label\n1,one\n2,two\n3,three\n"


@pytest.fixture
def engine(tmp_path: Path) -> PipelineEngine:
    source = tmp_path / "codes.csv"
    source.write_text(CSV, encoding="utf-8")
    config = PipelineConfig(tmp_path / "data", entry_points=False, storage_format="delta")
    pipeline = PipelineEngine(config)
    pipeline.run_full_pipeline(source, "codes", dedupe="none")
    return pipeline


def test_views_are_delta_datasets(engine: PipelineEngine) -> None:
    with QueryEngine(engine.config) as query:
        tables = [r for r in query.relations() if r.kind == "table"]
        assert [(r.key, r.dataset is not None) for r in tables] == [
            ("staged.codes", True),
            ("bronze.codes", True),
            ("silver.codes", True),
        ]
        rows = query.query("SELECT code, label FROM silver.codes ORDER BY code").rows()
    assert rows == [("1", "one"), ("2", "two"), ("3", "three")]


def test_a_delta_log_listing_another_file_skips_the_table(
    engine: PipelineEngine, tmp_path: Path
) -> None:
    """The version's metadata names the table's own file; the commit's ``add``
    action is edited to name a copy outside the data root."""
    folder = engine.config.silver_path() / "codes"
    (data,) = folder.glob("batch=*.parquet")
    outside = tmp_path / "outside.parquet"
    shutil.copy(data, outside)
    (commit,) = sorted((folder / "_delta_log").glob("*.json"))
    text = commit.read_text(encoding="utf-8")
    assert f'"path":"{data.name}"' in text
    escape = "../../../outside.parquet"  # from data/silver/codes
    commit.write_text(text.replace(f'"path":"{data.name}"', f'"path":"{escape}"'))
    with QueryEngine(engine.config) as query:
        assert "silver.codes" not in {r.key for r in query.relations()}
        (warning,) = [w for w in query.warnings if w.startswith("silver.codes")]
    # delta-rs names the file as it would read it (its own URL encoding)
    assert warning.startswith(
        "silver.codes: skipped: the store's dataset of version 1 reads other files than "
        "the version lists ("
    )
    assert warning.endswith("outside.parquet)")
