"""Table versions: batch-partitioned files and an atomically switched "current" pointer.

Each table of each layer is a folder::

    <layer>/<table>/batch=<id>.parquet     one file per batch (kept)
    <layer>/<table>/_current.json          which files make the current version

Readers read only the files the pointer lists. A new version is published by
writing its data files first and then replacing ``_current.json`` atomically,
so a reader sees the previous version or the new one, never a mix.

Modes: ``replace`` (the new batch is the whole current version) and
``append`` (the new batch is added to the files of the previous version).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobforge.storage.atomic import atomic_write_bytes
from jobforge.storage.names import validate_name
from jobforge.timestamps import UtcDatetime

WriteMode = Literal["replace", "append"]
POINTER_NAME = "_current.json"


class BatchEntry(BaseModel):
    """One batch file of a table version.

    Frozen: the versions read from one pointer share their entries
    (:func:`read_current`); a changed entry is a new one (``model_copy``). Its
    ``fingerprint`` and ``parts`` are not to be changed in place either."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    file: str
    """File name inside the table folder."""
    rows: int
    source_sha256: str | None = None
    source_file: str | None = None
    ingested_at: UtcDatetime | None = None
    record_id: str | None = None
    """The lineage record that published this file (``None`` before jobforge 2.1)."""
    fingerprint: dict[str, str] = Field(default_factory=dict)
    """What this batch's file was made from (:mod:`jobforge.engine.fingerprint`)."""
    parts: list[str] = Field(default_factory=list)
    """File names of the batch's part files, in row order, when an executor wrote
    it as several files (:func:`part_file_name`); empty: the batch is ``file``
    alone. ``file`` stays the batch's name (its rows set apart are named after
    it) and is then no file of the version."""

    def data_files(self) -> list[str]:
        """The names of the files holding the batch's rows, in row order."""
        return list(self.parts) if self.parts else [self.file]


class CurrentVersion(BaseModel):
    """The content of ``_current.json``."""

    table: str
    layer: str
    version: int
    updated_at: UtcDatetime
    mode: WriteMode
    batches: list[BatchEntry] = Field(default_factory=list)
    record_id: str | None = None
    """The lineage record (transition or ingestion) that published this version."""
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return sum(b.rows for b in self.batches)

    def files(self, table_dir: Path) -> list[Path]:
        """The version's files, each once (a compacted file holds several batches)."""
        # names made unique before they are made paths: hashing a path costs
        # more than joining it, and a version of a thousand batches lists as many
        names = dict.fromkeys(name for b in self.batches for name in b.data_files())
        return [table_dir / name for name in names]


def table_dir(layer_dir: Path, table: str) -> Path:
    return layer_dir / validate_name(table)


def batch_file_name(batch_id: str, suffix: str = "") -> str:
    """``batch=<id>[suffix].parquet``."""
    validate_name(batch_id, "batch id")
    return f"batch={batch_id}{suffix}.parquet"


def part_file_name(name: str, index: int) -> str:
    """The name of part ``index`` of the batch file ``name``:
    ``batch=<id>[suffix].part-00000.parquet`` (a batch id has no dot, so no
    batch file name is ever a part name)."""
    stem = name.removesuffix(".parquet")
    return f"{stem}.part-{index:05d}.parquet"


def files_named(name: str, names: Sequence[str]) -> list[str]:
    """Of ``names`` (a folder's file names), those that hold the file ``name``:
    ``[name]`` itself, else its parts in part order (:func:`part_file_name`);
    empty when neither is there."""
    if name in names:
        return [name]
    stem = name.removesuffix(".parquet") + ".part-"
    return sorted(n for n in names if n.startswith(stem) and _is_part(n[len(stem) :]))


def _is_part(tail: str) -> bool:
    number = tail.removesuffix(".parquet")
    return tail.endswith(".parquet") and len(number) == 5 and number.isdigit()


def new_batch_file_name(batch_id: str, version: int, folders: Sequence[Path]) -> str:
    """A data file name for a new publication of ``batch_id`` that is free in
    every folder of ``folders`` (the table folder, its quarantine folders).

    ``batch=<id>.parquet`` the first time; a batch published again (a replay,
    or every ``jobforge run`` after the first, which re-promotes the same
    staged batch) gets ``batch=<id>-v<version>.parquet``. A file a pointer may
    list is never overwritten: readers that read the previous pointer keep
    reading the previous bytes, and a crash between writing the files and
    switching the pointer cannot change the previous version.
    """
    candidates = [batch_file_name(batch_id), batch_file_name(batch_id, f"-v{version}")]
    for name in candidates:
        # a batch written in parts has no file of its own name: its first part counts
        taken = (name, part_file_name(name, 0))
        if not any(
            (folder / n).exists() or (folder / n).is_symlink() for folder in folders for n in taken
        ):
            return name
    return batch_file_name(batch_id, f"-v{version}-{uuid.uuid4().hex[:8]}")


def read_current(layer_dir: Path, table: str) -> CurrentVersion | None:
    """The current version of ``table`` in ``layer_dir``, or ``None`` if never published.

    The pointer is read whole every time; parsing it is skipped when its bytes
    are the ones last parsed or written at that path (:class:`_Parsed`)."""
    pointer = table_dir(layer_dir, table) / POINTER_NAME
    try:
        data = pointer.read_bytes()
    except FileNotFoundError:
        return None
    return _PARSED.version(pointer, data)


def _parse(data: bytes) -> CurrentVersion:
    """The version ``data`` holds, parsed and validated in one pass (pydantic's
    JSON parser: about a third less time than ``json.loads`` and then
    validating the objects, and far fewer objects made, which the collector
    would walk). Bytes that are not JSON raise what ``json.loads`` raises on
    them (:class:`json.JSONDecodeError`, or :class:`UnicodeDecodeError`), so the
    error a reader shows does not depend on the parser."""
    try:
        return CurrentVersion.model_validate_json(data)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            json.loads(data.decode("utf-8"))  # raises the error it finds
        raise


class _Parsed:
    """The version last parsed from (or written to) each pointer, with its bytes.

    A pointer lists every batch of its version, so at a thousand batches it is
    about 800 kB, and validating it costs far more than reading it: a step reads
    its table's pointers several times (the batch to promote, the mode, the
    previous version, the draft's file name) and the next step reads the one the
    step before it wrote. A pointer whose bytes equal the kept ones is that
    version; any other bytes are parsed (and kept instead). Each caller gets its
    own copy of the version and of its list of batches (the entries, frozen, are
    shared), so that no caller can change what another reads. At most
    :data:`KEPT_POINTERS` pointers are kept, the least recently used leaving
    first: a step needs its own table's few, and a process that reads a
    project's thousands of pointers does not hold them all. A version written
    by :func:`publish` is kept with its entries' JSON, for the next publication
    of that pointer (:func:`pointer_bytes`)."""

    def __init__(self, size: int) -> None:
        self._kept: OrderedDict[str, tuple[bytes, CurrentVersion, EntriesJson]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def version(self, pointer: Path, data: bytes) -> CurrentVersion:
        key = str(pointer)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
        if kept is not None and kept[0] == data:
            return _copy(kept[1])
        version = _parse(data)
        self.keep(pointer, data, version, {})
        return _copy(version)

    def keep(
        self, pointer: Path, data: bytes, version: CurrentVersion, entries: EntriesJson
    ) -> None:
        """Keep ``version`` as what ``data`` at ``pointer`` says, with the JSON
        of those of its entries that was made when ``data`` was
        (:func:`pointer_bytes`)."""
        key = str(pointer)
        with self._lock:
            self._kept[key] = (data, _copy(version), entries)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def entries_json(self, pointer: Path) -> EntriesJson:
        """The JSON of the entries of the version last written to ``pointer``
        (empty when it was parsed, or is no longer kept)."""
        with self._lock:
            kept = self._kept.get(str(pointer))
        return kept[2] if kept is not None else {}

    def __len__(self) -> int:
        return len(self._kept)


EntriesJson = dict[int, tuple[BatchEntry, bytes]]
"""Batch entries' JSON, by ``id`` of the entry, each beside the entry it was made
of (an ``id`` is another entry's once the first is gone: the entry held is
compared with ``is``)."""

_BATCHES_EMPTY = b'\n  "batches": [],\n'
_ENTRY_INDENT = b"\n    "
_ENTRY_SEPARATOR = b"," + _ENTRY_INDENT


def pointer_bytes(version: CurrentVersion, made: EntriesJson) -> tuple[bytes, EntriesJson]:
    """``version`` as ``_current.json`` holds it, ``model_dump_json(indent=2)``
    and a newline in UTF-8, and the JSON of each of its entries.

    An entry's JSON is taken from ``made`` when it was made of this very entry
    (entries are frozen: :class:`BatchEntry`), else made: the pointer of an
    appended table lists every batch, and a step writes it whole, so at a
    thousand batches making each entry's JSON again cost more than the rest of
    the write. The bytes are the same as the whole version's dump
    (``tests/test_pointer_bytes.py``): an entry's dump with every line but the
    first indented four spaces more is how the version's dump holds it (the
    dump's line breaks are all between tokens: JSON strings escape theirs)."""
    head = version.model_copy(update={"batches": []}).model_dump_json(indent=2).encode("utf-8")
    if not version.batches:
        return head + b"\n", {}
    before, found, after = head.partition(_BATCHES_EMPTY)
    if not found:  # only if the model's fields ever change
        return (version.model_dump_json(indent=2) + "\n").encode("utf-8"), {}
    entries: EntriesJson = {}
    parts = [before, b'\n  "batches": [', _ENTRY_INDENT]
    for entry in version.batches:
        held = made.get(id(entry))
        if held is None or held[0] is not entry:
            text = entry.model_dump_json(indent=2).encode("utf-8")
            held = (entry, text.replace(b"\n", _ENTRY_INDENT))
        entries[id(entry)] = held
        parts += (held[1], _ENTRY_SEPARATOR)
    parts[-1] = b"\n  ],\n"  # in place of the last entry's separator
    parts += (after, b"\n")
    return b"".join(parts), entries


def _copy(version: CurrentVersion) -> CurrentVersion:
    """A copy of ``version`` with its own list of batches and its own ``extra``;
    the batch entries are shared (they are frozen: :class:`BatchEntry`)."""
    return version.model_copy(
        update={"batches": list(version.batches), "extra": copy.deepcopy(version.extra)}
    )


KEPT_POINTERS = 64
"""How many pointers' parsed versions a process keeps (:class:`_Parsed`)."""

_PARSED = _Parsed(KEPT_POINTERS)


def publish(
    layer_dir: Path,
    table: str,
    layer: str,
    new: list[BatchEntry],
    *,
    mode: WriteMode,
    updated_at: Any,
    record_id: str | None,
    previous: CurrentVersion | None,
) -> CurrentVersion:
    """Switch the current version of ``table`` atomically and return it
    (:func:`next_version` says what it holds)."""
    version = next_version(
        table,
        layer,
        new,
        mode=mode,
        updated_at=updated_at,
        record_id=record_id,
        previous=previous,
    )
    pointer = table_dir(layer_dir, table) / POINTER_NAME
    data, entries = pointer_bytes(version, _PARSED.entries_json(pointer))
    atomic_write_bytes(pointer, data)
    # These bytes parse back to this very version (tests/test_pointer_parsed.py).
    _PARSED.keep(pointer, data, version, entries)
    return version


def next_version(
    table: str,
    layer: str,
    new: list[BatchEntry],
    *,
    mode: WriteMode,
    updated_at: Any,
    record_id: str | None,
    previous: CurrentVersion | None,
) -> CurrentVersion:
    """The version that follows ``previous`` when ``new`` is published.

    ``append``: a new batch whose id the previous version holds takes its place
    (the order of the batches is kept); the others are added at the end.
    """
    batches = list(previous.batches) if (previous and mode == "append") else []
    position = {b.batch_id: i for i, b in enumerate(batches)}
    for entry in new:
        if entry.batch_id in position:
            batches[position[entry.batch_id]] = entry
        else:
            position[entry.batch_id] = len(batches)
            batches.append(entry)
    return CurrentVersion(
        table=table,
        layer=layer,
        version=(previous.version + 1) if previous else 1,
        updated_at=updated_at,
        mode=mode,
        batches=batches,
        record_id=record_id,
    )


def list_tables(layer_dir: Path) -> list[str]:
    """Tables that have a current version in ``layer_dir``, sorted."""
    if not layer_dir.is_dir():
        return []
    return sorted(p.parent.name for p in layer_dir.glob(f"*/{POINTER_NAME}"))
