"""Oversized source files, and the peak memory of ``jobforge ingest`` on them.

``python benchmarks/oversized.py CASE --out DIR [--size N]`` writes one input to
``DIR``, runs ``jobforge ingest`` on it in a child process and prints one line:
what was written, the outcome (``ingested`` with the rows, or ``refused`` with
the message) and the child's peak resident memory (``ru_maxrss``)::

    case=xlsx-cells bytes=18874368 outcome=refused peak_mib=61 seconds=0.4 message=...

The cases (the defaults are the sizes reported in the hardening issue):

- ``xlsx-cells``: a workbook of ``--size`` rows x 50 numeric cells (1 000 000);
- ``xlsx-bomb``: a workbook whose sheet XML is ``--size`` MiB of repeated
  rows that deflate over 300 to 1 (1024);
- ``json-array``: a JSON array of about ``--size`` MiB of records (1024);
- ``csv-wide``: a CSV whose header has ``--size`` columns (1 000 000).

The generators write in chunks (memory does not grow with the size) and are
deterministic; the tests import them (``tests/test_oversized_inputs.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)


def column_letters(index: int) -> str:
    """``0 -> A``, ``25 -> Z``, ``26 -> AA``..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def write_xlsx(
    path: Path,
    rows: list[list[str]] | None = None,
    *,
    repeat: tuple[int, int] | None = None,
    dimension: str | None = "auto",
    level: int = 1,
) -> Path:
    """A one-sheet workbook, written straight as XML into the zip archive.

    ``rows``: the sheet's rows (inline strings, row 1 the header). ``repeat``:
    ``(rows, columns)`` of numeric cells (the value is the column's number), the
    rows written in chunks. ``dimension``: the ``<dimension ref>`` written
    (``auto``: the real one; ``None``: none)."""
    if (rows is None) == (repeat is None):
        raise ValueError("give rows or repeat")
    if rows is not None:
        height, width = len(rows), max(map(len, rows))
    else:
        assert repeat is not None
        height, width = repeat
    if dimension == "auto":
        dimension = f"A1:{column_letters(width - 1)}{height}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode())
            if dimension is not None:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            if rows is not None:
                for number, row in enumerate(rows, start=1):
                    cells = "".join(
                        f'<c r="{column_letters(i)}{number}" t="inlineStr"><is><t>{_xml(v)}</t>'
                        "</is></c>"
                        for i, v in enumerate(row)
                    )
                    sheet.write(f'<row r="{number}">{cells}</row>'.encode())
            else:
                letters = [column_letters(i) for i in range(width)]
                for start in range(1, height + 1, 10_000):
                    chunk = []
                    for number in range(start, min(start + 10_000, height + 1)):
                        cells = "".join(
                            f'<c r="{c}{number}"><v>{i}</v></c>' for i, c in enumerate(letters)
                        )
                        chunk.append(f'<row r="{number}">{cells}</row>')
                    sheet.write("".join(chunk).encode())
            sheet.write(b"</sheetData></worksheet>")
    return path


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_xlsx_bomb(path: Path, mebibytes: int) -> Path:
    """A workbook whose sheet is ``mebibytes`` MiB of identical empty-ish rows
    (no ``r`` attributes, so every row is the same bytes), declaring a small
    dimension: it deflates over 300 to 1."""
    row = b"<row>" + b"<c><v>1</v></c>" * 64 + b"</row>"
    chunk = row * ((1 << 20) // len(row))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(_SHEET_HEAD.encode() + b'<dimension ref="A1:BL2"/><sheetData>')
            for _ in range(mebibytes):
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return path


def write_json_array(path: Path, mebibytes: int) -> Path:
    """A JSON array of records ``{"id": N, "name": "...", "score": 1.50, "tags": [...]}``
    of about ``mebibytes`` MiB."""
    target = mebibytes << 20
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        written, number = 1, 0
        while written < target:
            parts = []
            for _ in range(10_000):
                number += 1
                parts.append(
                    f'{{"id": {number}, "name": "record {number}", "score": 1.50, '
                    f'"tags": ["a", {number % 7}]}}'
                )
            text = ("," if number > 10_000 else "") + ",".join(parts)
            handle.write(text)
            written += len(text)
        handle.write("]")
    return path


def write_wide_csv(path: Path, columns: int) -> Path:
    """A CSV whose header has ``columns`` names (``c0,c1,...``) and one record."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        handle.write(",".join("1" for _ in range(columns)) + "\n")
    return path


CASES = {
    "xlsx-cells": ("data.xlsx", 1_000_000, lambda p, n: write_xlsx(p, repeat=(n, 50))),
    "xlsx-bomb": ("bomb.xlsx", 1024, write_xlsx_bomb),
    "json-array": ("data.json", 1024, write_json_array),
    "csv-wide": ("wide.csv", 1_000_000, write_wide_csv),
}


def ingest_peak(path: Path, workdir: Path, *options: str) -> tuple[int, str, float, int]:
    """``jobforge ingest PATH`` in a child process: its exit code, its stderr's
    last line, seconds, and the peak resident memory of the child in MiB (the
    children's ``ru_maxrss``, measured in a fresh Python process so that no
    earlier child counts)."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
        "lines = (done.stderr.strip() or done.stdout.strip()).splitlines() or ['']\n"
        "print(json.dumps([done.returncode, lines[-1], time.perf_counter() - start, peak]))\n"
    )
    jobforge = Path(sys.executable).parent / "jobforge"
    args = [str(jobforge), "ingest", str(path), "--table", "big", *options]
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=workdir, capture_output=True, text=True
    )
    code, line, seconds, peak = json.loads(done.stdout)
    return code, line, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--option", action="append", default=[], help="a reader option K=V")
    args = parser.parse_args()
    name, default, write = CASES[args.case]
    args.out.mkdir(parents=True, exist_ok=True)
    path = write(args.out / name, args.size or default)
    options = [x for o in args.option for x in ("--option", o)]
    code, line, seconds, peak = ingest_peak(path, args.out, *options)
    outcome = "ingested" if code == 0 else "refused"
    print(
        f"case={args.case} bytes={path.stat().st_size} outcome={outcome} exit={code} "
        f"peak_mib={peak} seconds={seconds:.1f} message={line}"
    )


if __name__ == "__main__":
    main()
