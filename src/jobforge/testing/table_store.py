"""The table-store conformance suite: what every :class:`~jobforge.storage.store.TableStore`
must do, whatever keeps its versions.

A store package runs it by subclassing :class:`TableStoreConformance` in a test
module and overriding one fixture, ``store_factory``: a
:class:`StoreFactory` naming an importable function that builds the
:class:`~jobforge.pipeline.config.PipelineConfig` whose store is under test
from a data root (the crash and concurrency cases call it again in other
processes, so it is named, not passed)::

    from jobforge.testing.table_store import StoreFactory, TableStoreConformance

    class TestMyStore(TableStoreConformance):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return StoreFactory("my_package.testing:config_for", tmp_path / "data")

The cases drive the store as the engine does (draft, write through the draft's
temporaries, stage, publish under the table's lock; abort; after a crash,
is_published then discard) with small parquet files whose rows they know.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from jobforge.pipeline.config import PipelineConfig
from jobforge.storage import literal
from jobforge.storage.locks import table_lock
from jobforge.storage.store import Draft, TableStore
from jobforge.storage.versions import BatchEntry, CurrentVersion, WriteMode

PHASES: tuple[str, ...] = ("written", "staged", "published")
"""Where :func:`publish_in_child` kills itself: after the step wrote its
temporaries, after :meth:`TableStore.stage`, after :meth:`TableStore.publish`
(before anything else the engine would do)."""


@dataclass(frozen=True)
class StoreFactory:
    """``target`` (``"module:function"``) builds the config of ``data_root``."""

    target: str
    data_root: Path

    def config(self) -> PipelineConfig:
        module, _, function = self.target.partition(":")
        build: Callable[[Path], PipelineConfig] = getattr(importlib.import_module(module), function)
        return build(self.data_root)


def parquet_store_config(data_root: Path) -> PipelineConfig:
    """The bundled store's config (the suite's reference run)."""
    return PipelineConfig(data_root, entry_points=False)


def rows_of(batch_id: str, count: int) -> pa.Table:
    """``count`` known rows of ``batch_id`` (a string, an integer and a UTC timestamp)."""
    return pa.table(
        {
            "key": [f"{batch_id}-{i}" for i in range(count)],
            "value": list(range(count)),
            "seen_at": pa.array(
                [datetime(2026, 1, 1, 12, i % 60, tzinfo=UTC) for i in range(count)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def write_draft(
    draft: Draft, rows: pa.Table, rejected: int = 0, rejected_parts: Sequence[int] = ()
) -> None:
    """Write a step's files through the draft's temporaries, as an executor does.

    ``rejected_parts``: the quarantine file is written as parts of these many
    rows each (the first rows of ``rows``, in order), as an executor that writes
    in parts does (an empty part is not published)."""
    with (
        draft.pending.sink_for(draft.targets.data) as out_file,
        literal.parquet_writer(out_file, rows.schema) as writer,
    ):
        writer.write_table(rows)
    if draft.targets.quarantine is not None and rejected_parts:
        start = 0
        for index, count in enumerate(rejected_parts):
            part = draft.pending.part_for(draft.targets.quarantine, index, drop_if_empty=True)
            with literal.parquet_writer(part, rows.schema) as writer:
                writer.write_table(rows.slice(start, count))
            start += count
    elif draft.targets.quarantine is not None:
        with (
            draft.pending.sink_for(draft.targets.quarantine, drop_if_empty=True) as apart,
            literal.parquet_writer(apart, rows.schema) as writer,
        ):
            writer.write_table(rows.slice(0, rejected))


def publish_batch(
    config: PipelineConfig,
    layer: str,
    table: str,
    batch_id: str,
    rows: pa.Table,
    *,
    mode: WriteMode,
    rejected: int = 0,
    rejected_parts: Sequence[int] = (),
    stop_after: Callable[[str], None] = lambda phase: None,
) -> CurrentVersion:
    """One publication as the engine drives it, under the table's lock."""
    store = config.store
    with table_lock(config.locks_path(), table):
        previous = store.current(layer, table)
        draft = store.draft(layer, table, batch_id)
        write_draft(draft, rows, rejected, rejected_parts)
        stop_after("written")
        staged = store.stage(draft)
        stop_after("staged")
        record_id = f"record-{batch_id}"
        entry = BatchEntry(
            batch_id=batch_id,
            file=draft.targets.data.name,
            rows=rows.num_rows,
            record_id=record_id,
        )
        try:
            version = store.publish(
                draft,
                entry,
                mode=mode,
                record_id=record_id,
                updated_at=datetime.now(UTC),
                previous=previous,
            )
        except BaseException:
            store.abort(draft, staged)
            raise
        stop_after("published")
        return version


def read_version(store: TableStore, layer: str, table: str) -> list[str]:
    """The keys of the current version's rows, in the order of its files."""
    current = store.current(layer, table)
    if current is None:
        return []
    keys: list[str] = []
    for path in store.files(layer, table, current):
        keys += literal.parquet_file(path).read(columns=["key"]).column("key").to_pylist()
    return keys


def keys(batch_id: str, count: int) -> list[str]:
    return [str(key) for key in rows_of(batch_id, count).column("key").to_pylist()]


def recover(
    config: PipelineConfig, layer: str, table: str, record_id: str, files: list[str]
) -> bool:
    """What the engine's recovery asks of the store after a crash: complete
    (published) or discard the staged files. Returns whether it was published."""
    store = config.store
    with table_lock(config.locks_path(), table):
        store.remove_temporaries(table)
        if store.is_published(layer, table, record_id):
            return True
        store.discard(layer, table, files)
        return False


def data_files_under(root: Path) -> set[Path]:
    """Every parquet file under ``root`` (a temporary or a leftover counts)."""
    return {p for p in root.rglob("*") if p.is_file() and p.suffix == ".parquet"}


def stored_files(config: PipelineConfig) -> set[str]:
    """Every data file the config's store keeps: the parquet files under the
    data root and, for an ``s3://`` root, every parquet object below its prefix."""
    found = {str(p) for p in data_files_under(config.data_root)}
    root = config.object_root
    if root is not None:
        from jobforge.storage.objects import S3Files

        objects = S3Files(root).keys("")
        found |= {root.uri_for(k) for k in objects if k.endswith(".parquet")}
    return found


def publish_in_child(factory: StoreFactory, *args: str, timeout: float = 120) -> int:
    """Run :func:`_child_main` in a new interpreter; return its exit status."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from jobforge.testing.table_store import _child_main; "
            "_child_main(sys.argv[1:])",
            factory.target,
            str(factory.data_root),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"child failed ({done.returncode}): {done.stderr}")
    return done.returncode


def _child_main(argv: list[str]) -> None:
    """``target data_root layer table mode kill_at batch:count [batch:count ...]``:
    publish each batch; SIGKILL itself at phase ``kill_at`` of the last one."""
    target, data_root, layer, table, mode, kill_at, *batches = argv
    config = StoreFactory(target, Path(data_root)).config()
    for index, spec in enumerate(batches):
        batch_id, _, count = spec.partition(":")
        last = index == len(batches) - 1

        def stop_after(phase: str, last: bool = last) -> None:
            if last and phase == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        publish_batch(
            config,
            layer,
            table,
            batch_id,
            rows_of(batch_id, int(count)),
            mode=mode,  # type: ignore[arg-type]
            rejected=1,
            stop_after=stop_after,
        )
    print(json.dumps({"published": len(batches)}))


class TableStoreConformance:
    """The cases; a store's test module subclasses this and overrides ``store_factory``."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return StoreFactory("jobforge.testing.table_store:parquet_store_config", tmp_path / "data")

    @pytest.fixture
    def config(self, store_factory: StoreFactory) -> PipelineConfig:
        store_factory.data_root.mkdir(parents=True, exist_ok=True)
        config = store_factory.config()
        config.ensure_layout()
        return config

    # -- publishing ------------------------------------------------------------------
    def test_nothing_published_has_no_version(self, config: PipelineConfig) -> None:
        store = config.store
        assert store.current("silver", "t") is None
        assert store.tables("silver") == []
        assert store.set_apart_files("t", "silver") == []

    def test_publish_makes_the_first_version(self, config: PipelineConfig) -> None:
        version = publish_batch(config, "silver", "t", "b1", rows_of("b1", 3), mode="replace")
        store = config.store
        current = store.current("silver", "t")
        assert current is not None
        assert current.version == version.version == 1
        assert current.record_id == "record-b1"
        assert [b.batch_id for b in current.batches] == ["b1"]
        assert current.row_count == 3
        assert store.tables("silver") == ["t"]
        assert store.tables("bronze") == []
        assert read_version(store, "silver", "t") == keys("b1", 3)
        (path,) = store.files("silver", "t", current)
        assert path == store.file_of("silver", "t", current.batches[0])
        assert literal.read_schema(path).field("seen_at").type == pa.timestamp("us", tz="UTC")

    def test_append_adds_batches_in_order(self, config: PipelineConfig) -> None:
        publish_batch(config, "staged", "t", "b1", rows_of("b1", 2), mode="append")
        publish_batch(config, "staged", "t", "b2", rows_of("b2", 3), mode="append")
        current = config.store.current("staged", "t")
        assert current is not None and current.version == 2
        assert [b.batch_id for b in current.batches] == ["b1", "b2"]
        assert read_version(config.store, "staged", "t") == keys("b1", 2) + keys("b2", 3)

    def test_append_of_a_batch_again_takes_its_place(self, config: PipelineConfig) -> None:
        publish_batch(config, "bronze", "t", "b1", rows_of("b1", 2), mode="append")
        publish_batch(config, "bronze", "t", "b2", rows_of("b2", 2), mode="append")
        first = config.store.current("bronze", "t")
        assert first is not None
        old_file = config.store.file_of("bronze", "t", first.batches[0])
        publish_batch(config, "bronze", "t", "b1", rows_of("b1", 4), mode="append")
        current = config.store.current("bronze", "t")
        assert current is not None and current.version == 3
        assert [b.batch_id for b in current.batches] == ["b1", "b2"]
        assert read_version(config.store, "bronze", "t") == keys("b1", 4) + keys("b2", 2)
        new_file = config.store.file_of("bronze", "t", current.batches[0])
        assert new_file != old_file  # a file a version listed is never overwritten

    def test_replace_makes_the_batch_the_whole_version(self, config: PipelineConfig) -> None:
        publish_batch(config, "silver", "t", "b1", rows_of("b1", 2), mode="replace")
        publish_batch(config, "silver", "t", "b2", rows_of("b2", 5), mode="replace")
        current = config.store.current("silver", "t")
        assert current is not None and current.version == 2 and current.mode == "replace"
        assert read_version(config.store, "silver", "t") == keys("b2", 5)

    def test_replace_with_other_columns(self, config: PipelineConfig) -> None:
        publish_batch(config, "gold", "t", "b1", rows_of("b1", 2), mode="replace")
        other = rows_of("b2", 2).append_column("extra", pa.array(["x", "y"]))
        publish_batch(config, "gold", "t", "b2", other, mode="replace")
        current = config.store.current("gold", "t")
        assert current is not None
        (path,) = config.store.files("gold", "t", current)
        assert literal.read_schema(path).names == ["key", "value", "seen_at", "extra"]

    def test_rows_set_apart_are_kept_per_publication(self, config: PipelineConfig) -> None:
        publish_batch(config, "silver", "t", "b1", rows_of("b1", 3), mode="replace", rejected=1)
        publish_batch(config, "silver", "t", "b2", rows_of("b2", 3), mode="replace", rejected=0)
        publish_batch(config, "silver", "t", "b3", rows_of("b3", 3), mode="replace", rejected=2)
        store = config.store
        current = store.current("silver", "t")
        assert current is not None
        files = store.set_apart_files("t", "silver")
        assert len(files) == 2  # an empty file is not kept
        rejected = sorted(
            k for f in files for k in literal.parquet_file(f).read().column("key").to_pylist()
        )
        assert rejected == sorted(keys("b1", 1) + keys("b3", 2))
        (first,) = store.set_apart_files_of("t", "silver", current.batches[0])
        assert first in files

    def test_rows_set_apart_in_parts_are_every_part(self, config: PipelineConfig) -> None:
        # rows b1:0-1 in part 0, an empty part 1 (not published), rows b1:2-4 in part 2
        publish_batch(
            config, "silver", "t", "b1", rows_of("b1", 6), mode="replace", rejected_parts=[2, 0, 3]
        )
        publish_batch(config, "silver", "t", "b2", rows_of("b2", 3), mode="append", rejected=1)
        store = config.store
        current = store.current("silver", "t")
        assert current is not None
        first, second = current.batches
        parts = store.set_apart_files_of("t", "silver", first)
        stem = first.file.removesuffix(".parquet")
        assert [p.name for p in parts] == [
            f"{stem}.part-00000.parquet",
            f"{stem}.part-00002.parquet",
        ]
        rejected = [
            k for f in parts for k in literal.parquet_file(f).read().column("key").to_pylist()
        ]
        assert rejected == keys("b1", 5)
        (alone,) = store.set_apart_files_of("t", "silver", second)
        assert alone.name == second.file
        assert sorted(store.set_apart_files("t", "silver")) == sorted([*parts, alone])

    def test_draft_never_names_a_listed_file(self, config: PipelineConfig) -> None:
        publish_batch(config, "silver", "t", "b1", rows_of("b1", 1), mode="replace")
        store = config.store
        current = store.current("silver", "t")
        assert current is not None
        draft = store.draft("silver", "t", "b1")
        assert draft.targets.data not in store.files("silver", "t", current)

    def test_abort_publishes_nothing(self, config: PipelineConfig) -> None:
        publish_batch(config, "silver", "t", "b1", rows_of("b1", 2), mode="replace")
        store = config.store
        before = stored_files(config)
        draft = store.draft("silver", "t", "b2")
        write_draft(draft, rows_of("b2", 2), rejected=1)
        staged = store.stage(draft)
        assert staged
        store.abort(draft, staged)
        current = store.current("silver", "t")
        assert current is not None and current.version == 1
        assert read_version(store, "silver", "t") == keys("b1", 2)
        assert stored_files(config) == before
        assert not store.is_published("silver", "t", "record-b2")

    def test_a_failed_publish_leaves_the_previous_version(self, config: PipelineConfig) -> None:
        publish_batch(config, "silver", "t", "b1", rows_of("b1", 2), mode="replace")
        before = stored_files(config)
        with pytest.raises(ValueError):
            publish_batch(
                config,
                "silver",
                "t",
                "b2",
                rows_of("b2", 2),
                mode="sideways",  # type: ignore[arg-type]
            )
        assert read_version(config.store, "silver", "t") == keys("b1", 2)
        assert stored_files(config) == before

    # -- after a crash -----------------------------------------------------------------
    def test_discard_removes_staged_files_of_an_unpublished_version(
        self, config: PipelineConfig
    ) -> None:
        publish_batch(config, "silver", "t", "b1", rows_of("b1", 2), mode="replace")
        store = config.store
        before = stored_files(config)
        current = store.current("silver", "t")
        assert current is not None
        draft = store.draft("silver", "t", "b2")
        write_draft(draft, rows_of("b2", 2), rejected=1)
        finals = [os.path.abspath(p) for p in draft.pending.finals()]
        store.stage(draft)
        assert not store.is_published("silver", "t", "record-b2")
        listed = [str(p) for p in store.files("silver", "t", current)]
        assert store.discard("silver", "t", finals + listed) == 2  # never a listed file
        assert stored_files(config) == before
        assert store.is_published("silver", "t", "record-b1")

    @pytest.mark.parametrize("phase", PHASES)
    @pytest.mark.parametrize("mode", ["append", "replace"])
    def test_sigkill_at_every_phase_leaves_a_whole_version(
        self, store_factory: StoreFactory, config: PipelineConfig, phase: str, mode: str
    ) -> None:
        table, layer = "t", "bronze"
        assert publish_in_child(store_factory, layer, table, mode, "none", "b1:3") == 0
        published = data_files_under(config.data_root)
        kept = stored_files(config)
        status = publish_in_child(store_factory, layer, table, mode, phase, "b2:4")
        assert status == -signal.SIGKILL
        # a reader sees the previous version or the new one, never a mix
        new = keys("b1", 3) + keys("b2", 4) if mode == "append" else keys("b2", 4)
        fresh = store_factory.config()
        seen = read_version(fresh.store, layer, table)
        assert seen in (keys("b1", 3), new)
        leftovers = data_files_under(config.data_root) - published
        was_published = recover(
            fresh, layer, table, "record-b2", [os.path.abspath(p) for p in leftovers]
        )
        assert was_published == (phase == "published")
        assert read_version(fresh.store, layer, table) == (new if was_published else keys("b1", 3))
        if not was_published:  # nothing of the killed publication is left
            assert stored_files(config) == kept
        # and the table takes the next publication
        publish_batch(fresh, layer, table, "b3", rows_of("b3", 1), mode="append")
        after = read_version(fresh.store, layer, table)
        assert after == (new if was_published else keys("b1", 3)) + keys("b3", 1)

    def test_concurrent_writers_lose_no_publication(self, store_factory: StoreFactory) -> None:
        store_factory.data_root.mkdir(parents=True, exist_ok=True)
        store_factory.config().ensure_layout()
        writers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys; from jobforge.testing.table_store import _child_main; "
                    "_child_main(sys.argv[1:])",
                    store_factory.target,
                    str(store_factory.data_root),
                    "staged",
                    "t",
                    "append",
                    "none",
                    *(f"w{w}b{i}:2" for i in range(3)),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for w in range(3)
        ]
        for writer in writers:
            _, err = writer.communicate(timeout=180)
            assert writer.returncode == 0, err
        store = store_factory.config().store
        current = store.current("staged", "t")
        assert current is not None
        assert current.version == 9
        assert sorted(b.batch_id for b in current.batches) == sorted(
            f"w{w}b{i}" for w in range(3) for i in range(3)
        )
        expected = [k for b in current.batches for k in keys(b.batch_id, 2)]
        assert read_version(store, "staged", "t") == expected
