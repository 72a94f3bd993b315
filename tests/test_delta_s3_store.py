"""The Delta store with an ``s3://`` data root passes the table-store
conformance suite against moto's S3 server on loopback (tests/s3_server.py):
the tables are Delta tables in the bucket, committed with conditional puts;
the local state folder holds only locks, temporaries and a read cache."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable

from jobforge.pipeline.config import PipelineConfig
from jobforge.storage.versions import BatchEntry
from jobforge.testing.table_store import (
    StoreFactory,
    TableStoreConformance,
    keys,
    publish_batch,
    read_version,
    rows_of,
    stored_files,
    write_draft,
)

from .s3_server import S3Server

BUCKET_ENV = "JOBFORGE_TEST_S3_BUCKET"


def s3_delta_config(state_dir: Path) -> PipelineConfig:
    """A Delta store in the test bucket, below a prefix of its own (named after
    ``state_dir``, so the suite's child processes find the same tables); the
    server and credentials come from the AWS_* variables."""
    prefix = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return PipelineConfig(
        f"s3://{os.environ[BUCKET_ENV]}/runs/{prefix}",
        entry_points=False,
        storage_format="delta",
        state_dir=state_dir,
    )


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(BUCKET_ENV, s3_server.bucket())
    return s3_server


class TestDeltaStoreOnS3(TableStoreConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path, s3_env: S3Server) -> StoreFactory:
        return StoreFactory("tests.test_delta_s3_store:s3_delta_config", tmp_path / "state")


def test_moto_refuses_a_second_create_and_a_stale_replace(s3_env: S3Server) -> None:
    """What the stores rely on: the server answers 412 to a conditional put that does not hold."""
    from jobforge.storage.objects import ObjectRoot, PreconditionFailed, S3Files

    files = S3Files(ObjectRoot.parse(f"s3://{os.environ[BUCKET_ENV]}/p"))
    files.create("a.json", b"1")
    with pytest.raises(PreconditionFailed, match="another writer"):
        files.create("a.json", b"2")
    found = files.read("a.json")
    assert found is not None and found[0] == b"1"
    files.replace("a.json", b"3", found[1])
    with pytest.raises(PreconditionFailed):
        files.replace("a.json", b"4", found[1])  # the tag of the first bytes, no longer current
    assert files.read("a.json") is not None and files.read("a.json")[0] == b"3"  # type: ignore[index]
    assert files.keys("") == ["a.json"]


def test_tables_are_delta_tables_in_the_bucket(tmp_path: Path, s3_env: S3Server) -> None:
    config = s3_delta_config(tmp_path / "state")
    config.ensure_layout()
    publish_batch(config, "silver", "t", "b1", rows_of("b1", 3), mode="replace", rejected=1)
    publish_batch(config, "silver", "t", "b2", rows_of("b2", 2), mode="replace", rejected=1)
    root = config.object_root
    assert root is not None
    options = root.delta_options()
    table = DeltaTable(root.uri_for("silver/t"), storage_options=options)
    assert table.version() == 1
    assert sorted(table.to_pyarrow_table().column("key").to_pylist()) == keys("b2", 2)
    rejected = DeltaTable(root.uri_for("quarantine/t/silver"), storage_options=options)
    assert sorted(rejected.to_pyarrow_table().column("key").to_pylist()) == sorted(
        keys("b1", 1) + keys("b2", 1)
    )
    # nothing of the table is kept only locally: no Delta log in the state folder
    assert not list((tmp_path / "state").rglob("_delta_log"))
    assert config.store.table_location("silver", "t") == root.uri_for("silver/t")


def test_a_commit_that_cannot_reach_the_server_is_one_line(
    tmp_path: Path, s3_env: S3Server
) -> None:
    """The files are uploaded, then the server goes away for the commit
    (delta-rs is pointed at a closed port): one line naming the table, and
    after the abort nothing of the publication is left in the bucket."""
    from jobforge.storage.objects import ObjectStoreError

    from .s3_server import SECRET_KEY, free_port

    config = s3_delta_config(tmp_path / "state")
    config.ensure_layout()
    previous = publish_batch(config, "silver", "t", "b1", rows_of("b1", 2), mode="replace")
    before = stored_files(config)
    store = config.store
    draft = store.draft("silver", "t", "b2")
    write_draft(draft, rows_of("b2", 2), rejected=1)
    staged = store.stage(draft)
    assert stored_files(config) != before  # uploaded, in no version
    closed = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    store.options = {**store.options, **closed}  # type: ignore[attr-defined]
    entry = BatchEntry(batch_id="b2", file=draft.targets.data.name, rows=2, record_id="r2")
    with pytest.raises(ObjectStoreError) as caught:
        store.publish(
            draft,
            entry,
            mode="replace",
            record_id="r2",
            updated_at=datetime.now(UTC),
            previous=previous,
        )
    store.abort(draft, staged)
    message = str(caught.value)
    root = config.object_root
    assert root is not None
    assert message.startswith(f"{root.uri_for('silver/t')}: the commit failed (")
    assert "\n" not in message and SECRET_KEY not in message
    assert stored_files(config) == before
    fresh = s3_delta_config(tmp_path / "state").store
    assert read_version(fresh, "silver", "t") == keys("b1", 2)
