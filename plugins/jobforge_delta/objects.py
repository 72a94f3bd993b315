"""The Delta store on object storage (``data_root = "s3://bucket/prefix"``).

The tables are Delta tables in the bucket, laid out as in a local data root
(``s3://bucket/prefix/silver/<table>/_delta_log/…``); the config's local
state folder (:attr:`PipelineConfig.data_root`, ``.jobforge/<bucket>/<prefix>``
unless ``[storage] state_dir`` says otherwise) mirrors that layout and holds
what only this machine needs: the executor's temporaries, the table locks and
the journal, and a read cache of data files.

A publication goes as on a local disk, with one upload between the steps:

- the executor writes the step's files locally, through temporaries;
- :meth:`S3DeltaStore.stage` renames them into place locally, then uploads
  each under its final key with ``If-None-Match: *`` (a data file's name is
  fresh: an object in the bucket is never overwritten) -- in no version yet,
  as no commit lists it;
- :meth:`~jobforge_delta.store.DeltaStore.publish` is one Delta commit in the
  bucket: delta-rs creates ``_delta_log/<N>.json`` with a conditional put
  (``conditional_put = "etag"``), so two writers, on one machine or two,
  never both take version N (the loser re-reads the log and commits N+1, or
  fails with a conflict), and no rename is needed.

Readers get local paths (the engine, DuckDB and polars read local files): a
data file a version lists is downloaded into the state folder the first time
it is read, and kept; its name is never reused, so the copy stays right.
Listing a layer's tables (:meth:`S3DeltaStore.tables`) also brings in the
files of their rows set apart, which the query views read from the local
quarantine folders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake.exceptions import DeltaError

from jobforge.plugin import (
    AREAS_SET_APART,
    BatchEntry,
    CompactedFile,
    ConfigError,
    CurrentVersion,
    Draft,
    Layer,
    ObjectRoot,
    ObjectStoreError,
    PipelineConfig,
    S3Files,
    WriteMode,
    remove_published,
)
from jobforge_delta.store import DELTA_VERSION, LOG_FOLDER, DeltaStore, open_table

DELTA_CLIENT = {"connect_timeout": "5s", "timeout": "60s", "max_retries": "2"}
"""How long delta-rs waits for the server (a bad endpoint fails in seconds, not minutes)."""


class S3DeltaStore(DeltaStore):
    """:class:`DeltaStore` with its tables in a bucket (see the module docstring)."""

    def __init__(self, config: PipelineConfig) -> None:
        super().__init__(config)
        if config.object_root is None:
            raise ConfigError("S3DeltaStore needs an s3:// data root")
        self.root: ObjectRoot = config.object_root
        self.objects = S3Files(self.root)
        self.options = {**self.root.delta_options(), **DELTA_CLIENT}

    def __repr__(self) -> str:
        return f"DeltaStore({self.root.url!r})"

    # -- where things are -------------------------------------------------------------
    def relative(self, path: Path) -> str:
        """``path`` (in the local state folder) as a key below the root."""
        try:
            return path.relative_to(self.config.data_root).as_posix()
        except ValueError:
            raise ConfigError(
                f"{path}: a layout folder outside the state folder {self.config.data_root}; "
                f"with data_root {self.root.url!r} every layer and the quarantine must "
                "stay below the data root"
            ) from None

    def table_uri(self, folder: Path) -> str:
        return self.root.uri_for(self.relative(folder))

    def table_location(self, layer: str, table: str) -> str:
        return self.table_uri(self.table_dir(layer, table))

    def _fetch(self, path: Path) -> Path:
        """The local copy of a data file the bucket holds (downloaded once)."""
        if not path.exists():
            self.objects.download(self.relative(path), path)
        return path

    def local_copy(self, path: Path) -> Path:
        return self._fetch(path)

    # -- reading -----------------------------------------------------------------------
    def tables(self, layer: str) -> list[str]:
        prefix = self.relative(self._layer_dir(layer))
        found = set()
        for key in self.objects.keys(prefix):
            parts = key[len(prefix) + 1 :].split("/")
            if len(parts) == 3 and parts[1] == LOG_FOLDER and parts[2].endswith(".json"):
                found.add(parts[0])
        tables = sorted(t for t in found if self.current(layer, t) is not None)
        self._layer_dir(layer).mkdir(parents=True, exist_ok=True)
        for table in tables:  # the local copy the quarantine and duplicates views read
            for area in AREAS_SET_APART:
                # rejected in this layer; the duplicates (not a layer) go with silver
                dropped = area not in Layer.__members__.values()
                if area == layer or (dropped and layer == Layer.SILVER.value):
                    self.set_apart_files(table, area)
        return tables

    def files(self, layer: str, table: str, version: CurrentVersion) -> list[Path]:
        """Local copies of the version's files; a file a vacuum removed from the
        bucket is named but not there (the query views then skip the version)."""
        paths = super().files(layer, table, version)
        if all(p.exists() for p in paths):
            return paths
        present = self.present(layer, table)
        return [self._fetch(p) if present(p.name) else p for p in paths]

    def arrow_dataset(
        self, layer: str, table: str, version: CurrentVersion
    ) -> tuple[ds.Dataset, list[Path]]:
        """``version`` read from the local copies of the files its Delta version
        lists, with the Delta table's schema (the views read local copies)."""
        folder = self.table_dir(layer, table)
        uri = self.table_uri(folder)
        delta = open_table(uri, self.options)
        delta.load_as_version(int(version.extra[DELTA_VERSION]))
        prefix = uri.rstrip("/") + "/"
        names = [u.removeprefix(prefix) for u in delta.file_uris()]
        files = [self._fetch(folder / name) for name in names]
        schema = pa.schema(delta.schema().to_arrow())
        return ds.dataset([str(f) for f in files], schema=schema, format="parquet"), files

    def present(self, layer: str, table: str) -> Callable[[str], bool]:
        """Whether a data file of ``layer.table`` is still in the bucket (one listing)."""
        prefix = self.relative(self.table_dir(layer, table))
        names = {k[len(prefix) + 1 :] for k in self.objects.keys(prefix)}
        return names.__contains__

    def bytes_of(self, layer: str, table: str, files: Sequence[Path]) -> int:
        sizes = self.objects.sizes(self.relative(self.table_dir(layer, table)))
        return sum(sizes.get(self.relative(f), 0) for f in files)

    def vacuum(
        self,
        layer: str,
        table: str,
        keep: Sequence[CurrentVersion],
        *,
        dry_run: bool,
        metadata: dict[str, str],
    ) -> list[Path]:
        """Delta's vacuum in the bucket (delta-rs deletes the objects), then the
        local copies of the files it removed; a failure is one line."""
        try:
            return super().vacuum(layer, table, keep, dry_run=dry_run, metadata=metadata)
        except (OSError, DeltaError) as exc:
            uri = self.table_uri(self.table_dir(layer, table))
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise ObjectStoreError(f"{uri}: the vacuum failed ({lines[0].strip()})") from None

    def set_apart_files(self, table: str, area: str) -> list[Path]:
        folder = self.set_apart_dir(table, area)
        return sorted(self._fetch(folder / n) for n in self.set_apart_names(folder))

    def set_apart_names(self, folder: Path) -> list[str]:
        """The names of the bucket's files in a folder of rows set apart (one listing)."""
        prefix = self.relative(folder)
        names = [k[len(prefix) + 1 :] for k in self.objects.keys(prefix)]
        return [
            n for n in names if "/" not in n and n.startswith("batch=") and n.endswith(".parquet")
        ]

    def set_apart_files_of(self, table: str, area: str, batch: BatchEntry) -> list[Path]:
        return [self._fetch(p) for p in super().set_apart_files_of(table, area, batch)]

    # -- publishing -------------------------------------------------------------------
    def publish(
        self,
        draft: Draft,
        entry: BatchEntry,
        *,
        mode: WriteMode,
        record_id: str,
        updated_at: datetime,
        previous: CurrentVersion | None,
    ) -> CurrentVersion:
        """The Delta commit; a failure delta-rs reports over several lines
        (retries, the request) is one line naming the table."""
        try:
            return super().publish(
                draft,
                entry,
                mode=mode,
                record_id=record_id,
                updated_at=updated_at,
                previous=previous,
            )
        except (OSError, DeltaError) as exc:
            uri = self.table_uri(self.table_dir(draft.layer, draft.table))
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise ObjectStoreError(f"{uri}: the commit failed ({lines[0].strip()})") from None

    def stage(self, draft: Draft) -> list[Path]:
        moved = super().stage(draft)
        uploaded: list[str] = []
        try:
            for path in moved:
                key = self.relative(path)
                self.objects.upload(key, path)
                uploaded.append(key)
        except BaseException:
            for key in uploaded:
                self.objects.delete(key)
            remove_published(moved)
            raise
        return moved

    def write_compacted(
        self,
        layer: str,
        table: str,
        groups: Sequence[Sequence[BatchEntry]],
        names: Sequence[str],
    ) -> list[CompactedFile]:
        """Written locally, then uploaded under fresh keys with ``If-None-Match: *``
        (in no version until the compaction's commit)."""
        written = super().write_compacted(layer, table, groups, names)
        uploaded: list[CompactedFile] = []
        try:
            for compacted in written:
                self.objects.upload(self.relative(compacted.path), compacted.path)
                uploaded.append(compacted)
        except BaseException:
            self.discard_compacted(layer, table, written)
            raise
        return written

    def discard_compacted(self, layer: str, table: str, compacted: Sequence[CompactedFile]) -> None:
        super().discard_compacted(layer, table, compacted)
        for written in compacted:  # fresh names: no commit lists them
            self.objects.delete(self.relative(written.path))

    def abort(self, draft: Draft, staged: list[Path]) -> None:
        super().abort(draft, staged)
        for path in staged:  # fresh names: no commit lists them
            self.objects.delete(self.relative(path))

    # -- after a crash -----------------------------------------------------------------
    def discard(self, layer: str, table: str, files: list[str]) -> int:
        """Remove each named file, locally and in the bucket, unless the current
        version lists it; count a file removed from either."""
        current = self.current(layer, table)
        folder = self.table_dir(layer, table)
        listed = set(current.files(folder)) if current else set()
        present: dict[str, set[str]] = {}
        removed = 0
        for name in files:
            path = Path(name).absolute()
            if path in listed:  # a second guard: fresh names never are
                continue
            prefix, key = self.relative(path.parent), self.relative(path)
            if prefix not in present:
                present[prefix] = set(self.objects.keys(prefix))
            here = path.exists()
            path.unlink(missing_ok=True)
            if key in present[prefix]:
                self.objects.delete(key)
            removed += here or key in present[prefix]
        return removed
