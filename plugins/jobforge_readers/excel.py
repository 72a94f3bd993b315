"""Excel ``.xlsx`` through polars' recommended engine (calamine, via fastexcel).

Every cell is read as text (numbers as calamine writes them, ``3`` or ``1.5``;
booleans ``true``/``false``; dates ``2024-01-02 03:04:05``; an empty cell is
null). The header is the sheet's first row that has a value (calamine starts
a sheet at its first used cell). Empty rows below it are kept, so
``_source_row`` is the row number below the header.

Options: ``sheet`` (a sheet name, or a 1-based sheet number, also given as
text such as ``"2"`` when no sheet has that name; default: the first sheet,
recorded with the ingestion).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from jobforge.errors import SourceError
from jobforge.hooks.manager import one_line
from jobforge.sources.base import ReadResult, SourceHeader
from jobforge.sources.headers import normalise_headers, refuse_reserved


def _short(exc: BaseException) -> str:
    """calamine's message on one line, without its "Context:" trail of file names."""
    return one_line(exc).split(" Context:", 1)[0]


class ExcelReader:
    format = "xlsx"

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self.path = path
        self.options = dict(options)
        self.sheet = options.get("sheet")

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
        """The sheet's first row with a value, as staged names."""
        import fastexcel

        try:
            workbook = fastexcel.read_excel(str(self.path))
            sheet = self._sheet(list(workbook.sheet_names))
            first = workbook.load_sheet(sheet, header_row=None, n_rows=1).to_polars()
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(
                f"{self.path}: not a readable xlsx workbook ({_short(exc)})"
            ) from None
        if first.height == 0:
            raise SourceError(f"{self.path}: sheet {sheet!r} is empty (expected a header row)")
        row = ["" if v is None else str(v) for v in first.row(0)]
        return SourceHeader(normalise_headers(row)[0])

    def read(self) -> ReadResult:
        import fastexcel

        unknown = set(self.options) - {"sheet"}
        if unknown:
            raise SourceError(
                f"{self.path}: unknown xlsx option(s) {', '.join(sorted(unknown))}; expected sheet"
            )
        try:
            names = list(fastexcel.read_excel(str(self.path)).sheet_names)
        except Exception as exc:
            raise SourceError(
                f"{self.path}: not a readable xlsx workbook ({_short(exc)})"
            ) from None
        sheet = self._sheet(names)
        try:
            frame = pl.read_excel(
                self.path,
                sheet_name=sheet,
                has_header=False,
                infer_schema_length=0,
                drop_empty_rows=False,
                drop_empty_cols=False,
                raise_if_empty=False,
            )
        except Exception as exc:
            raise SourceError(
                f"{self.path}: sheet {sheet!r} cannot be read ({_short(exc)})"
            ) from None
        if frame.height == 0:
            raise SourceError(f"{self.path}: sheet {sheet!r} is empty (expected a header row)")
        header = ["" if v is None else str(v) for v in frame.row(0)]
        if not any(name.strip() for name in header):
            raise SourceError(f"{self.path}: sheet {sheet!r}: the header row has no column names")
        columns, mapping = normalise_headers(header)
        refuse_reserved(self.path, columns)
        body = frame.slice(1).cast(pl.String)
        body.columns = columns
        body = body.with_row_index("_source_row", offset=1).with_columns(
            pl.col("_source_row").cast(pl.Int64)
        )
        details = {"sheet": sheet, "sheets": names}
        return ReadResult(
            frame=body.lazy(), header_mapping=mapping, details=details, records=body.height
        )
