"""How big an xlsx sheet really is, found before calamine loads it.

calamine holds a sheet as a dense grid: every cell of the rectangle its cells
span takes memory, whether it has a value or not (two cells, ``A1`` and
``XFD1048576``, make a grid of 17 billion). So the area is what is bounded,
and it is measured from the sheet's own XML, streamed from the archive, not
from the ``<dimension>`` the file declares (which may lie):

- :func:`check_archive` refuses a workbook a part of which declares an
  uncompressed size more than ``max_ratio`` times its compressed size (a zip
  bomb); reading a part stops at its declared size (Python's ``zipfile``
  checks it, and the CRC), so the declared sizes are the real ones;
- :func:`sheet_extent` finds the rows and columns the sheet's cells span,
  stopping as soon as the area is over ``max_cells``.

Cells are found by a regular expression over the raw XML (``<c r="B7"``, as
Excel, LibreOffice, openpyxl and xlsxwriter write them); a sheet written
otherwise (a cell without ``r``, a namespace prefix) is measured by an exact,
slower, XML parse that places cells the way calamine does.
"""

from __future__ import annotations

import posixpath
import re
import xml.parsers.expat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from jobforge.plugin import SourceError, literal
from jobforge_readers.limits import Limits, over

_CHUNK = 1 << 22
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')
_ANY_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,7})$")


@dataclass
class Extent:
    """The rows and columns (1-based, inclusive) that a sheet's cells span."""

    first_row: int = 0
    last_row: int = 0
    first_column: int = 0
    last_column: int = 0
    cells: int = 0

    @property
    def rows(self) -> int:
        return self.last_row - self.first_row + 1 if self.cells else 0

    @property
    def columns(self) -> int:
        return self.last_column - self.first_column + 1 if self.cells else 0

    @property
    def area(self) -> int:
        return self.rows * self.columns

    def add(self, row: int, column: int) -> None:
        if not self.cells:
            self.first_row = self.last_row = row
            self.first_column = self.last_column = column
        else:
            self.first_row = min(self.first_row, row)
            self.last_row = max(self.last_row, row)
            self.first_column = min(self.first_column, column)
            self.last_column = max(self.last_column, column)
        self.cells += 1


def column_number(letters: str | bytes) -> int:
    """``A`` -> 1, ``Z`` -> 26, ``AA`` -> 27."""
    if isinstance(letters, bytes):
        letters = letters.decode("ascii")
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


def open_archive(path: Path) -> zipfile.ZipFile | None:
    """The workbook as a zip archive, or ``None`` if it is not one (calamine
    then says what it is)."""
    try:
        return zipfile.ZipFile(literal.text(path))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def check_archive(path: Path, archive: zipfile.ZipFile, limits: Limits) -> None:
    """Refuse a part whose declared uncompressed size is over ``max_ratio``
    times its compressed size."""
    for info in archive.infolist():
        if info.file_size == 0:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise over(
                path,
                "max_ratio",
                limits.max_ratio,
                f"the workbook's part {info.filename} inflates {ratio:.0f} to 1 "
                f"({info.compress_size} bytes to {info.file_size}; a zip bomb?)",
            )


def _xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    try:
        with archive.open(name) as handle:
            return ElementTree.parse(handle).getroot()
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile):
        return None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The archive member holding ``sheet``'s cells (``xl/worksheets/sheet1.xml``),
    from the workbook and its relationships (in any namespace: transitional or
    strict OOXML); ``None`` if they do not say."""
    workbook = _xml(archive, "xl/workbook.xml")
    rels = _xml(archive, "xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        return None
    rel_id = None
    for element in workbook.iter():
        if _local(element.tag) == "sheet" and element.get("name") == sheet:
            rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
            break
    for element in rels.iter():
        if _local(element.tag) == "Relationship" and element.get("Id") == rel_id:
            target = element.get("Target") or ""
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def shared_strings_part(archive: zipfile.ZipFile) -> str | None:
    """The archive member holding the workbook's shared strings, if it has one."""
    rels = _xml(archive, "xl/_rels/workbook.xml.rels")
    if rels is None:
        return None
    for element in rels.iter():
        if _local(element.tag) == "Relationship" and (element.get("Type") or "").endswith(
            "/sharedStrings"
        ):
            target = element.get("Target") or ""
            if target.startswith("/"):
                return target.lstrip("/")
            return posixpath.normpath(posixpath.join("xl", target))
    return None


def check_inflated(
    path: Path, archive: zipfile.ZipFile, parts: list[str], what: str, limits: Limits
) -> None:
    """Refuse ``parts`` (names of members) whose declared sizes add up to more
    than ``max_inflated_bytes``: calamine holds their text. ``what`` says it
    (``sheet 'S' inflates to``)."""
    total = 0
    for name in parts:
        try:
            total += archive.getinfo(name).file_size
        except KeyError:
            continue
    if total > limits.max_inflated_bytes:
        raise over(
            path,
            "max_inflated_bytes",
            limits.max_inflated_bytes,
            f"{what} {total} bytes",
        )


def sheet_extent(
    path: Path, archive: zipfile.ZipFile, part: str, sheet: str, limits: Limits
) -> Extent:
    """The extent of the cells of ``part``; a sheet whose area is over
    ``max_cells`` is refused as soon as it is seen to be."""
    extent = Extent()
    exact = False
    try:
        with archive.open(part) as handle:
            tail = b""
            while chunk := handle.read(_CHUNK):
                data = tail + chunk
                cut = data.rfind(b"<")
                data, tail = (data[:cut], data[cut:]) if cut > 0 else (data, b"")
                refs = _CELL_REF.findall(data)
                if len(refs) != len(_ANY_CELL.findall(data)):
                    exact = True
                    break
                _add_refs(extent, refs)
                _check_area(path, sheet, extent, limits)
            else:
                refs = _CELL_REF.findall(tail)
                if len(refs) != len(_ANY_CELL.findall(tail)):
                    exact = True
                else:
                    _add_refs(extent, refs)
        if exact:
            with archive.open(part) as handle:
                extent = _exact_extent(path, handle, sheet, limits)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SourceError(
            f"{path}: not a readable xlsx workbook (sheet {sheet!r}: {exc})"
        ) from None
    _check_area(path, sheet, extent, limits)
    return extent


def _add_refs(extent: Extent, refs: list[tuple[bytes, bytes]]) -> None:
    if not refs:
        return
    columns = {column_number(c) for c in {c for c, _ in refs}}
    rows = {int(r) for r in {r for _, r in refs}}
    extent.add(min(rows), min(columns))
    extent.add(max(rows), max(columns))
    extent.cells += len(refs) - 2


def _check_area(path: Path, sheet: str, extent: Extent, limits: Limits) -> None:
    if extent.area > limits.max_cells:
        raise over(
            path,
            "max_cells",
            limits.max_cells,
            f"sheet {sheet!r} spans at least {extent.rows} rows x {extent.columns} columns "
            f"({extent.area} cells)",
        )


def _exact_extent(path: Path, handle: IO[bytes], sheet: str, limits: Limits) -> Extent:
    """The extent by an XML parse: a row without ``r`` follows the previous
    row, a cell without ``r`` follows the previous cell of its row."""
    extent = Extent()
    state = {"row": 0, "column": 0}

    def start(name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "row":
            number = attributes.get("r", "")
            state["row"] = int(number) if number.isdigit() else state["row"] + 1
            state["column"] = 0
        elif local == "c":
            match = _REF.match(attributes.get("r", ""))
            if match is not None:
                state["column"] = column_number(match.group(1))
                row = int(match.group(2))
            else:
                state["column"] += 1
                row = state["row"]
            extent.add(row, state["column"])
            if extent.cells % 4096 == 0:
                _check_area(path, sheet, extent, limits)

    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = start
    try:
        parser.ParseFile(handle)
    except xml.parsers.expat.ExpatError as exc:
        raise SourceError(
            f"{path}: not a readable xlsx workbook (sheet {sheet!r}: {exc})"
        ) from None
    return extent
