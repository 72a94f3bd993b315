"""Excel ``.xlsx`` through calamine (fastexcel), polars' recommended engine.

Every cell is read as text (numbers as calamine writes them, ``3`` or ``1.5``;
booleans ``true``/``false``; dates ``2024-01-02 03:04:05``; an empty cell is
null). The header is the sheet's first row that has a value (calamine starts
a sheet at its first used cell). Empty rows below it are kept, so
``_source_row`` is the row number below the header.

Options: ``sheet`` (a sheet name, or a 1-based sheet number, also given as
text such as ``"2"`` when no sheet has that name; default: the first sheet,
recorded with the ingestion), and the limits ``max_cells``, ``max_ratio``,
``max_inflated_bytes`` and ``max_columns`` (:mod:`jobforge_readers.limits`):
calamine loads a whole sheet at once, so its size is measured first
(:mod:`.xlsx_extent`) and a sheet over the limits is refused before it is
loaded. The loaded sheet is written to a parquet file in the reader's
temporary folder (``jobforge-xlsx-*``, in the engine's scratch folder) and
scanned from there, so that it is not held while the engine writes staged;
:meth:`ExcelReader.close` removes the folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from jobforge.plugin import (
    SOURCE_ROW,
    ReadResult,
    SourceError,
    SourceHeader,
    literal,
    normalise_headers,
    one_line,
    refuse_reserved,
)
from jobforge_readers.arrow import polars_result
from jobforge_readers.limits import limits_from, options_for, over
from jobforge_readers.xlsx_extent import (
    check_archive,
    check_inflated,
    open_archive,
    shared_strings_part,
    sheet_extent,
    sheet_part,
)

_OPTIONS = ("sheet", *options_for("xlsx"))
_GROUP_ROWS = 10_000


def _short(exc: BaseException) -> str:
    """calamine's message on one line, without its "Context:" trail of file names."""
    return one_line(exc).split(" Context:", 1)[0]


class ExcelReader:
    format = "xlsx"

    def __init__(self, path: Path, options: Mapping[str, Any], scratch: Path | None = None) -> None:
        self.path = path
        self.options = dict(options)
        self.sheet = options.get("sheet")
        self.scratch = scratch
        """Where to make the temporary folder (``None``: the system's)."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        """Remove the temporary folder, once the engine has consumed the frame."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _sheet(self, names: list[str]) -> str:
        sheet = self.sheet
        if sheet is None:
            if not names:
                raise SourceError(f"{self.path}: the workbook has no sheets")
            return names[0]
        if isinstance(sheet, str) and sheet not in names and sheet.strip().isdigit():
            sheet = int(sheet)
        if isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 1 <= sheet <= len(names):
                raise SourceError(
                    f"{self.path}: sheet {sheet} does not exist (the workbook has "
                    f"{len(names)} sheets: {', '.join(names)})"
                )
            return names[sheet - 1]
        if sheet not in names:
            raise SourceError(f"{self.path}: no sheet {sheet!r}; the sheets are {', '.join(names)}")
        return str(sheet)

    def header(self) -> SourceHeader:
        """The sheet's first row with a value, as staged names. calamine loads
        the whole sheet even for one row, so the sheet is checked as for
        :meth:`read` first."""
        workbook, sheet = self._checked()
        try:
            first = workbook.load_sheet(sheet, header_row=None, n_rows=1).to_polars()
        except Exception as exc:
            raise SourceError(
                f"{self.path}: not a readable xlsx workbook ({_short(exc)})"
            ) from None
        if first.height == 0:
            raise SourceError(f"{self.path}: sheet {sheet!r} is empty (expected a header row)")
        row = ["" if v is None else str(v) for v in first.row(0)]
        return SourceHeader(normalise_headers(row)[0])

    def read(self) -> ReadResult:
        try:
            return self._read()
        except BaseException:
            self.close()
            raise

    def _checked(self) -> tuple[Any, str]:
        """The workbook (fastexcel's reader) and the sheet to read, once the
        options, the archive and the sheet's size are checked against the limits
        (before calamine loads the sheet)."""
        import fastexcel

        unknown = set(self.options) - set(_OPTIONS)
        if unknown:
            raise SourceError(
                f"{self.path}: unknown xlsx option(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(_OPTIONS)}"
            )
        limits = limits_from(self.path, self.options, "xlsx")
        archive = open_archive(self.path)
        strings: str | None = None
        try:
            if archive is not None:
                check_archive(self.path, archive, limits)
                strings = shared_strings_part(archive)
                if strings is not None:
                    check_inflated(
                        self.path, archive, [strings], "the shared strings inflate to", limits
                    )
            try:
                workbook = fastexcel.read_excel(literal.text(self.path))
                names = list(workbook.sheet_names)
            except Exception as exc:
                raise SourceError(
                    f"{self.path}: not a readable xlsx workbook ({_short(exc)})"
                ) from None
            sheet = self._sheet(names)
            part = sheet_part(archive, sheet) if archive is not None else None
            if part is None:
                raise SourceError(
                    f"{self.path}: not a readable xlsx workbook (the part holding sheet "
                    f"{sheet!r} is not named by the workbook)"
                )
            assert archive is not None
            parts = [part] + ([strings] if strings is not None else [])
            what = (
                f"sheet {sheet!r} and the shared strings inflate to"
                if strings
                else f"sheet {sheet!r} inflates to"
            )
            check_inflated(self.path, archive, parts, what, limits)
            extent = sheet_extent(self.path, archive, part, sheet, limits)
        finally:
            if archive is not None:
                archive.close()
        if extent.columns > limits.max_columns:
            raise over(
                self.path,
                "max_columns",
                limits.max_columns,
                f"sheet {sheet!r} spans {extent.columns} columns",
            )
        return workbook, sheet

    def _read(self) -> ReadResult:
        workbook, sheet = self._checked()
        names = list(workbook.sheet_names)
        try:
            batch = workbook.load_sheet(sheet, header_row=None, dtypes="string", eager=True)
        except Exception as exc:
            raise SourceError(
                f"{self.path}: sheet {sheet!r} cannot be read ({_short(exc)})"
            ) from None
        if batch.num_rows == 0:
            raise SourceError(f"{self.path}: sheet {sheet!r} is empty (expected a header row)")
        header = ["" if v is None else str(v) for v in batch.slice(0, 1).to_pylist()[0].values()]
        if not any(name.strip() for name in header):
            raise SourceError(f"{self.path}: sheet {sheet!r}: the header row has no column names")
        columns, mapping = normalise_headers(header)
        refuse_reserved(self.path, columns)
        rows = batch.num_rows - 1
        body = batch.slice(1)
        arrays = [pa.array(range(1, rows + 1), type=pa.int64())] + [
            body.column(i).cast(pa.large_string()) for i in range(body.num_columns)
        ]
        del batch, body
        schema = pa.schema(
            [(SOURCE_ROW, pa.int64())] + [(str(i), pa.large_string()) for i in range(len(columns))]
        )
        table = pa.Table.from_arrays(arrays, schema=schema)
        del arrays
        self._tmp = tempfile.TemporaryDirectory(prefix="jobforge-xlsx-", dir=self.scratch)
        target = Path(self._tmp.name) / "sheet.parquet"
        writer = literal.parquet_writer(target, schema, compression="none", write_statistics=False)
        try:
            writer.write_table(table, row_group_size=_GROUP_ROWS)
        finally:
            writer.close()
        del table
        frame = literal.scan_parquet(target).select(
            pl.col(SOURCE_ROW), *[pl.col(str(i)).alias(c) for i, c in enumerate(columns)]
        )
        details = {"sheet": sheet, "sheets": names}
        return polars_result(frame, header_mapping=mapping, details=details, records=rows)
