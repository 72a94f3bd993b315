"""Remembering the column lineage of a gold table's SQL, so that a gold table
built again from the same SQL over inputs with the same columns does not parse
and analyse it again.

Working out the lineage of gold SQL (:func:`jobforge.engine.column_lineage.sql_lineage`)
is the only part of a gold step that imports sqlglot: in a run after one source
changed, that import and the analysis are about a sixth of the process. The
outcome depends only on what goes into :func:`lineage_key`: the SQL text, the
columns of each input (from its files' footers) and the ``layer.table`` each
input name stands for, this version of jobforge with the analysis's own files
(size and modification time of ``jobforge/sql/*.py`` and of
``column_lineage.py``), and the sqlglot installed (its files' size and time).
The lineage of one key is kept per gold table, as one small file in the data
root's locks folder (:func:`memo_file`); a missing, unreadable, malformed or
other key means the analysis runs, with the same result. Like the profile's
running totals, it is derived data: it is not flushed to disk, and a failure to
write it only means the next build analyses the SQL again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from jobforge.catalog.derivation import Derivation, StepLineage
from jobforge.pipeline.models import LINEAGE_KINDS, LineageKind
from jobforge.storage.atomic import atomic_write_text
from jobforge.storage.names import validate_name
from jobforge.storage.stamps import code_stamp, file_stamp

if TYPE_CHECKING:
    from jobforge.pipeline.config import PipelineConfig

FORMAT = 1
MEMO_FOLDER = "lineage"

_ENGINE = Path(__file__).resolve().parent
_COLUMN_LINEAGE = _ENGINE / "column_lineage.py"
_SQL_PACKAGE = _ENGINE.parent / "sql"
"""With :data:`_COLUMN_LINEAGE`, the code whose outcome is remembered."""


def memo_folder(config: PipelineConfig) -> Path:
    """Where the gold tables' SQL lineage is kept (with the locks: not data, not catalog)."""
    return config.locks_path() / MEMO_FOLDER


def memo_file(config: PipelineConfig, table: str) -> Path:
    return memo_folder(config) / f"{validate_name(table)}.json"


def _sqlglot_stamp() -> list[Any]:
    """sqlglot's package and version files, found without importing sqlglot."""
    spec = importlib.util.find_spec("sqlglot")
    origin = spec.origin if spec is not None else None
    if origin is None:
        return [None]
    folder = Path(origin).parent
    return [origin, file_stamp(origin), file_stamp(folder / "_version.py")]


def lineage_key(sql: str, columns: Mapping[str, Sequence[str]], layers: Mapping[str, str]) -> str:
    """The digest of everything the lineage of ``sql`` depends on (see the module docstring)."""
    from jobforge import __version__

    parts = {
        "format": FORMAT,
        "jobforge": [__version__, file_stamp(_COLUMN_LINEAGE), code_stamp(_SQL_PACKAGE)],
        "sqlglot": _sqlglot_stamp(),
        "sql": sql,
        "columns": {name: list(names) for name, names in columns.items()},
        "layers": dict(layers),
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _derivation_json(derivation: Derivation) -> dict[str, Any]:
    return {
        "kind": derivation.kind,
        "sources": list(derivation.sources),
        "expression": derivation.expression,
    }


def _derivation(value: object) -> Derivation | None:
    """A derivation from its JSON, ``None`` if it is not of that shape."""
    if not isinstance(value, dict) or set(value) != {"kind", "sources", "expression"}:
        return None
    kind, sources, expression = value["kind"], value["sources"], value["expression"]
    if kind not in LINEAGE_KINDS or not isinstance(sources, list):
        return None
    if not all(isinstance(s, str) for s in sources):
        return None
    if expression is not None and not isinstance(expression, str):
        return None
    return Derivation(cast(LineageKind, kind), tuple(sources), expression)


def lineage_json(key: str, lineage: StepLineage) -> str:
    """The memo's text: the key and the lineage of the SQL it stands for."""
    return json.dumps(
        {
            "format": FORMAT,
            "key": key,
            "columns": {name: _derivation_json(d) for name, d in lineage.columns.items()},
            "otherwise": _derivation_json(lineage.otherwise),
        }
    )  # not sorted: the columns are read back in the analysis's order


def read_lineage(path: Path, key: str) -> StepLineage | None:
    """The lineage kept in ``path`` for ``key``; ``None`` when the file is
    missing, unreadable, of another shape or of another key."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("format") != FORMAT or kept.get("key") != key:
        return None
    columns, otherwise = kept.get("columns"), _derivation(kept.get("otherwise"))
    if not isinstance(columns, dict) or otherwise is None:
        return None
    found: dict[str, Derivation] = {}
    for name, value in columns.items():
        derivation = _derivation(value)
        if derivation is None:
            return None
        found[name] = derivation
    return StepLineage(found, otherwise)


def remembered(
    path: Path | None,
    sql: str,
    columns: Mapping[str, Sequence[str]],
    layers: Mapping[str, str],
    analyse: Callable[[str, Mapping[str, Sequence[str]], Mapping[str, str]], StepLineage],
) -> StepLineage:
    """``analyse(sql, columns, layers)``, or what it gave before for the same key
    (``path``: the table's :func:`memo_file`; ``None``: always analyse)."""
    if path is None:
        return analyse(sql, columns, layers)
    key = lineage_key(sql, columns, layers)
    kept = read_lineage(path, key)
    if kept is not None:
        return kept
    lineage = analyse(sql, columns, layers)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, lineage_json(key, lineage) + "\n", durable=False)
    except OSError:
        pass  # a memo that cannot be written costs only the analysis next time
    return lineage
