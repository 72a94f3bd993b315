"""The staged column names of a source file, from its first record only.

``jobforge run`` checks a project's declarations against the columns each
source will have before anything runs; these functions give them without
reading the data: a delimited file's header record, a sheet's first row, a
parquet footer, the keys of a JSON file's first record (read incrementally).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from jobforge.plugin import SourceError, normalise_headers
from jobforge_readers.dialect import limited
from jobforge_readers.limits import LIMITS


def delimited_header(
    path: Path,
    encoding: str,
    delimiter: str,
    quote: str | None,
    field_limit: int = LIMITS["max_field_chars"].default,
) -> list[str]:
    """The first record of a delimited file, as staged names (a name longer
    than ``field_limit`` characters cannot be read)."""
    codec = "utf-8-sig" if encoding in ("utf-8", "utf-8-sig") else encoding
    try:
        with path.open("r", encoding=codec, newline="") as handle:
            reader = csv.reader(
                handle,
                delimiter=delimiter,
                quotechar=quote or '"',
                quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
                strict=False,
            )
            first = next(limited(reader, field_limit), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{path}: the header cannot be read ({exc})") from None
    if not first:
        raise SourceError(f"{path}: no header record")
    return normalise_headers(first)[0]


def json_first_keys(path: Path, encoding: str, record_path: str | None) -> list[str] | None:
    """The keys of the first object of a JSON array (at the top level, or under
    ``record_path``), as staged names, read incrementally; ``None`` if the start
    of the file does not say (a wrapper object whose record key is guessed when
    the file is read, another encoding, invalid JSON)."""
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    import ijson  # only JSON headers need it (a CSV header does not)

    prefix = "item" if record_path is None else f"{record_path}.item"
    keys: list[str] = []
    inside = False
    try:
        with path.open("rb") as handle:
            if handle.read(3) != b"\xef\xbb\xbf":
                handle.seek(0)
            for found, event, value in ijson.parse(handle):
                if found == "" and event == "start_map" and record_path is None:
                    return None
                if found != prefix:
                    continue
                if event == "start_map":
                    inside = True
                elif inside and event == "map_key":
                    keys.append(value)
                elif inside and event == "end_map":
                    return normalise_headers(keys)[0]
    except ijson.JSONError:
        return None
    return None


def ndjson_first_keys(path: Path, encoding: str) -> list[str] | None:
    """The keys of the first line that is a JSON object, as staged names."""
    codec = "utf-8-sig" if encoding in ("utf-8", "utf-8-sig") else encoding
    try:
        with path.open("r", encoding=codec) as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    return None
                return normalise_headers(list(value))[0] if isinstance(value, dict) else None
    except UnicodeDecodeError:
        return None
    return None
