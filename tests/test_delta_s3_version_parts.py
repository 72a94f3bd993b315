"""A version in parts under the Delta store with an ``s3://`` data root (moto's
server on loopback, tests/s3_server.py): every part is uploaded and added by
one Delta commit in the bucket, a batch published again removes every part of
its earlier publication, and a fresh store (an empty read cache) reads the
version back from the bucket. The executor cuts its outputs in two parts
(tests/test_delta_version_parts.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobforge.audit.verify import verify
from jobforge.engine.pipeline import PipelineEngine
from jobforge.engine.steps import GoldSpec
from jobforge.pipeline.config import PipelineConfig
from jobforge.query.engine import QueryEngine

from .engine_support import write_csv
from .s3_server import S3Server
from .test_delta_version_parts import ROWS, Gives


def _config(bucket: str, state: Path) -> PipelineConfig:
    prefix = hashlib.sha256(str(state).encode()).hexdigest()[:16]
    return PipelineConfig(
        f"s3://{bucket}/parts/{prefix}",
        entry_points=False,
        storage_format="delta",
        state_dir=state,
        plugins=[Gives()],
        executor="staged-in-parts",
    )


def _bucket_files(config: PipelineConfig, layer: str, table: str) -> list[str]:
    root = config.object_root
    assert root is not None
    delta = DeltaTable(root.uri_for(f"{layer}/{table}"), storage_options=root.delta_options())
    return sorted(uri.rsplit("/", 1)[-1] for uri in delta.file_uris())


def test_parts_are_committed_in_the_bucket_and_read_back(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    state, bucket = tmp_path / "state", s3_server.bucket()
    engine = PipelineEngine(_config(bucket, state))
    source = write_csv(tmp_path / "t.csv", ["a", "b"], ROWS)
    engine.run_full_pipeline(source, "t")
    engine.promote_to_gold(GoldSpec(name="g", inputs=["t"], sql="SELECT a, b, _lineage FROM t"))
    for layer, table in (("staged", "t"), ("bronze", "t"), ("silver", "t"), ("gold", "g")):
        current = engine.current(layer, table)
        assert current is not None and len(current.batches[0].parts) == 2
        assert _bucket_files(engine.config, layer, table) == current.batches[0].parts
    before = engine.current("bronze", "t")
    engine.promote_to_bronze("t", force=True)
    after = engine.current("bronze", "t")
    assert before is not None and after is not None
    assert _bucket_files(engine.config, "bronze", "t") == after.batches[0].parts
    assert not set(before.batches[0].parts) & set(after.batches[0].parts)
    assert verify(engine.config).findings == []

    # the read cache emptied (the local copies of the layers' files): every part
    # comes from the bucket again
    for layer in ("staged", "bronze", "silver", "gold"):
        cached = list((state / layer).rglob("*.parquet"))
        assert cached
        for path in cached:
            path.unlink()
    fresh = _config(bucket, state)
    with QueryEngine(fresh) as query:
        counts = {
            name: query.query(f"SELECT count(*) AS n FROM {name}")["n"].to_list()
            for name in ("staged.t", "bronze.t", "silver.t", "gold.g")
        }
        rows = query.query("SELECT a, b FROM gold.g ORDER BY a").rows()
    assert counts == {name: [4] for name in counts}
    assert rows == [("1", "w"), ("2", "x"), ("3", "y"), ("4", "z")]
    assert verify(fresh).findings == []  # each part's digest, hashed from the bucket's copy
