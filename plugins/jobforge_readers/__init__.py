"""The bundled source readers: CSV/TSV, Excel, JSON, NDJSON/JSONL and Parquet.

They answer ``trylast``: a plugin that claims a file first reads it instead.
"""

from __future__ import annotations

from collections.abc import Callable

from jobforge import hookimpl
from jobforge.plugin import PipelineConfig, SourceReader, SourceSpec
from jobforge_readers.delimited import DelimitedReader
from jobforge_readers.excel import ExcelReader
from jobforge_readers.json_reader import JsonReader, NdjsonReader
from jobforge_readers.parquet import ParquetReader

_READERS: dict[str, Callable[[SourceSpec], SourceReader]] = {
    "csv": lambda s: DelimitedReader(s.path, s.options, default_delimiter=",", scratch=s.scratch),
    "tsv": lambda s: DelimitedReader(s.path, s.options, default_delimiter="\t", scratch=s.scratch),
    "tab": lambda s: DelimitedReader(s.path, s.options, default_delimiter="\t", scratch=s.scratch),
    "txt": lambda s: DelimitedReader(s.path, s.options, default_delimiter=",", scratch=s.scratch),
    "xlsx": lambda s: ExcelReader(s.path, s.options, s.scratch),
    "json": lambda s: JsonReader(s.path, s.options, s.scratch),
    "ndjson": lambda s: NdjsonReader(s.path, s.options, s.scratch),
    "jsonl": lambda s: NdjsonReader(s.path, s.options, s.scratch),
    "parquet": lambda s: ParquetReader(s.path, s.options),
}


@hookimpl(trylast=True)
def jobforge_source_reader(source: SourceSpec, config: PipelineConfig) -> SourceReader | None:
    factory = _READERS.get(source.effective_format)
    return factory(source) if factory else None


@hookimpl
def jobforge_source_formats() -> list[str]:
    return ["csv", "tsv", "xlsx", "json", "ndjson", "jsonl", "parquet"]
