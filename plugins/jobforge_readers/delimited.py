"""CSV and TSV, every value read as text, cell for cell as Python's ``csv``
module reads it (see :mod:`jobforge_readers.csv_records` and docs/sources.md).

Options: ``delimiter`` (``,`` for csv, tab for tsv), ``quote`` (``"``; an
empty string turns quoting off), ``encoding`` (``utf-8``, the default, with or
without a byte order mark; any codec Python knows, such as ``cp1252``,
``latin-1`` or ``utf-16``, which is transcoded to UTF-8 first).

A file that is not plain (see :func:`~jobforge_readers.csv_records.check_records`)
is read by the ``csv`` module into parquet files (and a transcoded file is
written) in one temporary folder per reader, ``jobforge-csv-*``: inside the
engine's scratch folder (:attr:`SourceSpec.scratch`, in the table's staged
folder) when there is one, else in the system's temporary folder.
:meth:`DelimitedReader.close` removes it, after the engine has consumed the
frames.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobforge.plugin import (
    SOURCE_ROW,
    ReadResult,
    SourceError,
    SourceHeader,
    literal,
    normalise_headers,
    refuse_reserved,
)
from jobforge_readers._sniff import (
    canonical_encoding,
    decode_error,
    refuse_binary,
    refuse_utf16_as_utf8,
)
from jobforge_readers.dialect import Dialect
from jobforge_readers.header import delimited_header
from jobforge_readers.limits import limits_from, options_for

_OPTIONS = ("delimiter", "quote", "encoding", *options_for("csv"))
_FORBIDDEN = {"\n", "\r"}


class DelimitedReader:
    format = "csv"

    def __init__(
        self,
        path: Path,
        options: Mapping[str, Any],
        *,
        default_delimiter: str = ",",
        scratch: Path | None = None,
    ) -> None:
        # Options are checked by read(), so that a bad option is refused like a
        # bad file (the engine treats errors of read() as refusals).
        self.path = path
        self.options = dict(options)
        self.default_delimiter = default_delimiter
        self.scratch = scratch
        """Where to make the temporary folder (``None``: the system's); the
        folder given is not the reader's to remove, only what it makes inside."""
        delimiter = str(options.get("delimiter", default_delimiter))
        self.format = "tsv" if delimiter in ("\t", "\\t") else "csv"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def _configure(self) -> None:
        path, options = self.path, self.options
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise SourceError(
                f"{path}: unknown csv option(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(_OPTIONS)}"
            )
        delimiter = str(options.get("delimiter", self.default_delimiter))
        if delimiter == "\\t":
            delimiter = "\t"
        quote = options.get("quote", '"')
        quote = None if quote in (None, "") else str(quote)
        if len(delimiter) != 1 or delimiter in _FORBIDDEN:
            raise SourceError(f"{path}: delimiter must be one character, not a line end")
        if quote is not None and (len(quote) != 1 or quote in _FORBIDDEN or quote == delimiter):
            raise SourceError(
                f"{path}: quote must be one character other than the delimiter "
                "(or empty for no quoting)"
            )
        self.dialect = Dialect(delimiter=delimiter, quote=quote)
        self.encoding = canonical_encoding(path, str(options.get("encoding", "utf-8")))
        self.limits = limits_from(path, options, "csv")

    @property
    def folder(self) -> Path | None:
        """The reader's temporary folder, if it made one (until :meth:`close`)."""
        return Path(self._tmp.name) if self._tmp is not None else None

    def _folder(self) -> Path:
        if self._tmp is None:
            # A folder of its own even in the engine's scratch folder: two readers
            # there never share files.
            self._tmp = tempfile.TemporaryDirectory(prefix="jobforge-csv-", dir=self.scratch)
        return Path(self._tmp.name)

    def close(self) -> None:
        """Remove the temporary folder: the frames of :meth:`read` may scan files
        in it, so only once they are consumed."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _utf8_path(self) -> Path:
        """The file itself if it is UTF-8, else a UTF-8 copy in the temporary
        folder."""
        if self.encoding in ("utf-8", "utf-8-sig"):
            return self.path
        target = self._folder() / "source.csv"
        with (
            self.path.open("r", encoding=self.encoding, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        return target

    def header(self) -> SourceHeader:
        """The header record's staged names (nothing else is read)."""
        self._configure()
        names = delimited_header(
            self.path,
            self.encoding,
            self.dialect.delimiter,
            self.dialect.quote,
            self.limits.max_field_chars,
        )
        return SourceHeader(names)

    def read(self) -> ReadResult:
        try:
            return self._read()
        except BaseException:
            self.close()  # nothing of a failed read is used
            raise

    def _read(self) -> ReadResult:
        import polars as pl  # with the check, imported when a file is read, not for a header

        from jobforge_readers.arrow import polars_result
        from jobforge_readers.csv_records import check_records

        self._configure()
        refuse_binary(self.path, self.format)
        refuse_utf16_as_utf8(self.path, self.encoding)
        try:
            path = self._utf8_path()
            # Messages name the source file, not a transcoded copy (lines are alike).
            check = check_records(
                path, self.dialect, self._folder, limits=self.limits, shown=self.path
            )
        except UnicodeDecodeError:
            raise decode_error(self.path, self.encoding) from None
        names, mapping = normalise_headers(check.header)
        refuse_reserved(self.path, names)
        files = check.files
        details: dict[str, Any] = {
            "delimiter": self.dialect.delimiter,
            "quote": self.dialect.quote,
            "encoding": self.encoding,
            "blank_lines": check.blank_lines,
            "reader": "polars" if files is None else "csv",
        }
        if files is None:
            # A plain file: polars reads it exactly as the csv module does.
            frame = literal.scan_csv(
                path,
                has_header=True,
                new_columns=names,
                separator=self.dialect.delimiter,
                quote_char=self.dialect.quote,
                infer_schema=False,
                empty_string_is_null=False,
                raise_if_empty=False,
                row_index_name=SOURCE_ROW,
                row_index_offset=1,
            )
            return polars_result(
                frame, header_mapping=mapping, details=details, records=check.records
            )
        # The full pass wrote the records: they are the reference, used even when
        # it found nothing polars reads differently (polars_differs is then empty:
        # a U+FEFF in a value, a header and no record...).
        details["polars_differs"] = check.polars_differs
        # Positional column names in the files: renamed by position, whatever the names.
        columns = [SOURCE_ROW, *names]
        frame = literal.scan_parquet(files.records).select(
            pl.nth(i).alias(name) for i, name in enumerate(columns)
        )
        rejected = literal.scan_parquet(files.rejected) if files.rejected is not None else None
        return polars_result(
            frame, rejected, header_mapping=mapping, details=details, records=check.records
        )
