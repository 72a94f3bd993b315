"""The bundled source readers: CSV/TSV, Excel, JSON, NDJSON/JSONL and Parquet.

They answer ``trylast``: a plugin that claims a file first reads it instead.
"""

from __future__ import annotations

from collections.abc import Callable

from jobforge import hookimpl
from jobforge.plugin import PipelineConfig, SourceReader, SourceSpec

# Each reader's module is imported when a file of its format is claimed: a run
# that only reads headers or hashes sources imports neither polars nor pyarrow.


def _csv(source: SourceSpec, delimiter: str) -> SourceReader:
    from jobforge_readers.delimited import DelimitedReader

    return DelimitedReader(
        source.path, source.options, default_delimiter=delimiter, scratch=source.scratch
    )


def _xlsx(source: SourceSpec) -> SourceReader:
    from jobforge_readers.excel import ExcelReader

    return ExcelReader(source.path, source.options, source.scratch)


def _json(source: SourceSpec) -> SourceReader:
    from jobforge_readers.json_reader import JsonReader

    return JsonReader(source.path, source.options, source.scratch)


def _ndjson(source: SourceSpec) -> SourceReader:
    from jobforge_readers.json_reader import NdjsonReader

    return NdjsonReader(source.path, source.options, source.scratch)


def _parquet(source: SourceSpec) -> SourceReader:
    from jobforge_readers.parquet import ParquetReader

    return ParquetReader(source.path, source.options)


_READERS: dict[str, Callable[[SourceSpec], SourceReader]] = {
    "csv": lambda s: _csv(s, ","),
    "tsv": lambda s: _csv(s, "\t"),
    "tab": lambda s: _csv(s, "\t"),
    "txt": lambda s: _csv(s, ","),
    "xlsx": _xlsx,
    "json": _json,
    "ndjson": _ndjson,
    "jsonl": _ndjson,
    "parquet": _parquet,
}


@hookimpl(trylast=True)
def jobforge_source_reader(source: SourceSpec, config: PipelineConfig) -> SourceReader | None:
    factory = _READERS.get(source.effective_format)
    return factory(source) if factory else None


@hookimpl
def jobforge_source_formats() -> list[str]:
    return ["csv", "tsv", "xlsx", "json", "ndjson", "jsonl", "parquet"]
