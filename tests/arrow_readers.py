"""Readers that hand the engine Arrow only, registered through the reader hook as a
third-party plugin would be:

- :class:`PipePlugin` claims ``.psv`` files (``a|b|c`` lines, a header first) with a
  reader written against ``jobforge.plugin`` alone, whose records and rejects are
  ``pyarrow.RecordBatchReader`` streams parsed as they are read, a few lines a batch;
- :class:`ArrowOnly` claims every file the bundled readers claim and hands on their
  result without its native polars plan, so that an executor gets the Arrow streams.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from jobforge_readers import jobforge_source_reader as bundled_reader

from jobforge import hookimpl
from jobforge.plugin import SOURCE_ROW, ReadResult, SourceError, SourceReader, SourceSpec

REJECTED = pa.schema(
    [
        (SOURCE_ROW, pa.int64()),
        ("rule_id", pa.string()),
        ("message", pa.string()),
        ("row", pa.string()),
    ]
)


class PipeReader:
    """``.psv``: the first line names the fields, each later line is one record of
    ``|``-separated text values. A line with another number of fields is rejected
    (``bad_record``, the line kept in ``row``); a line starting with ``!`` refuses
    the file, found only when the stream reaches it. Lines are numbered from 1
    after the header (``_source_row``)."""

    format = "psv"

    def __init__(self, path: Path, batch_rows: int) -> None:
        self.path = path
        self.batch_rows = batch_rows
        self.opened = 0
        """Streams opened so far."""
        self.parsed = 0
        """Lines parsed into batches so far (by every stream)."""

    def read(self) -> ReadResult:
        with self.path.open("rb") as handle:  # the count: line ends, nothing parsed
            records = sum(1 for line in handle if line.strip()) - 1
        return ReadResult(batches=self._records, rejected=self._rejected, records=records)

    def _names(self) -> list[str]:
        with self.path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\n").split("|")

    def _lines(self) -> Iterator[tuple[int, str, list[str]]]:
        with self.path.open(encoding="utf-8") as handle:
            handle.readline()
            for number, line in enumerate(handle, start=1):
                text = line.rstrip("\n")
                if text.startswith("!"):
                    raise SourceError(f"{self.path}: line {number + 1} starts with '!'")
                self.parsed += 1
                yield number, text, text.split("|")

    def _records(self) -> pa.RecordBatchReader:
        self.opened += 1
        names = self._names()
        schema = pa.schema([*[(n, pa.string()) for n in names], (SOURCE_ROW, pa.int64())])

        def batches() -> Iterator[pa.RecordBatch]:
            rows: list[list[str]] = []
            numbers: list[int] = []
            for number, _, fields in self._lines():
                if len(fields) == len(names):
                    rows.append(fields)
                    numbers.append(number)
                if len(numbers) == self.batch_rows:
                    yield _batch(schema, rows, numbers)
                    rows, numbers = [], []
            if numbers:
                yield _batch(schema, rows, numbers)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _rejected(self) -> pa.RecordBatchReader:
        self.opened += 1
        width = len(self._names())

        def batches() -> Iterator[pa.RecordBatch]:
            for number, text, fields in self._lines():
                if len(fields) != width:
                    message = f"line {number + 1}: expected {width} fields, found {len(fields)}"
                    yield pa.record_batch(
                        [[number], ["bad_record"], [message], [text]], schema=REJECTED
                    )

        return pa.RecordBatchReader.from_batches(REJECTED, batches())


def _batch(schema: pa.Schema, rows: list[list[str]], numbers: list[int]) -> pa.RecordBatch:
    columns = [list(column) for column in zip(*rows, strict=True)]
    return pa.record_batch([*columns, numbers], schema=schema)


class PipePlugin:
    """The plugin of :class:`PipeReader`; ``readers`` holds every reader it made."""

    jobforge_plugin_name = "pipe-arrow"

    def __init__(self, batch_rows: int = 2) -> None:
        self.batch_rows = batch_rows
        self.readers: list[PipeReader] = []

    @hookimpl
    def jobforge_source_reader(self, source: SourceSpec) -> SourceReader | None:
        if source.effective_format != "psv":
            return None
        reader = PipeReader(source.path, self.batch_rows)
        self.readers.append(reader)
        return reader

    @hookimpl
    def jobforge_source_formats(self) -> list[str]:
        return ["psv"]


class _WithoutPlan:
    def __init__(self, inner: SourceReader) -> None:
        self.inner = inner
        self.format = inner.format

    def read(self) -> ReadResult:
        read = self.inner.read()
        assert read.native_plan("polars") is not None  # there was one to take away
        return dataclasses.replace(read, native={})

    def header(self) -> Any:
        return self.inner.header()  # type: ignore[attr-defined]

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class ArrowOnly:
    """The bundled readers, their native plans taken away."""

    jobforge_plugin_name = "arrow-only"

    @hookimpl(tryfirst=True)
    def jobforge_source_reader(self, source: SourceSpec, config: Any) -> SourceReader | None:
        inner = bundled_reader(source=source, config=config)
        return None if inner is None else _WithoutPlan(inner)
