"""Spark writes a table version as part files in a folder of its own. A data
output (bronze, silver, gold) becomes those part files themselves: Spark writes
to a scratch folder outside every layer folder (so ``_SUCCESS`` and ``.crc``
files never reach one), and each ``part-*.parquet`` is moved, in part order,
to the temporary the engine gives for that part
(:meth:`~jobforge.plugin.PendingFiles.part_for`); the driver never reads a
row. The engine hashes each part once, from its temporary, before it is renamed
into place. Rows set apart (quarantine, duplicates) are written the same way,
ordered by source row, as the parts of the quarantine or duplicates file the
engine named (empty parts left out).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
from pyspark.sql import DataFrame

from jobforge.plugin import ContractError, PendingFiles, literal
from jobforge_spark.stale import prefix, remove_stale


def hadoop_path(path: Path) -> str:
    """``path`` as Spark reads it: a name, never a pattern (Hadoop globs
    ``* ? [ ] { }``; a backslash makes each a literal character)."""
    text = str(path.resolve())
    for char in "\\*?[]{}":
        text = text.replace(char, "\\" + char)
    return text


class Scratch:
    """Folders Spark writes results to, removed when the run ends (those of a
    killed run by the next: :func:`~jobforge_spark.stale.remove_stale`)."""

    def __init__(self) -> None:
        self._root: Path | None = None

    def folder(self) -> Path:
        if self._root is None:
            remove_stale()
            self._root = Path(tempfile.mkdtemp(prefix=prefix()))
        return self._root / uuid.uuid4().hex

    def remove(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def write_parts(
    frame: DataFrame,
    final: Path,
    pending: PendingFiles,
    scratch: Scratch,
    where: str,
    *,
    set_apart: bool = False,
) -> int:
    """Write ``frame`` as the part files of the output ``final`` (see the module
    docstring); return its rows, from the parts' footers.

    ``set_apart`` (quarantine, duplicates): a part with no rows is not kept
    (Spark writes an empty file for an empty partition), so a step that sets
    nothing apart publishes no file there; the parts kept are numbered 0, 1, ...
    in Spark's part order."""
    folder = scratch.folder()
    try:
        frame.write.mode("error").parquet(hadoop_path(folder))
        parts = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
        if not parts:
            raise ContractError(f"{where}: Spark wrote no part file")
        schema = literal.read_schema(parts[0])
        index = 0
        for part in parts:
            if not literal.read_schema(part).equals(schema, check_metadata=False):
                raise ContractError(f"{where}: Spark's part files disagree on the schema")
            if set_apart and literal.read_metadata(part).num_rows == 0:
                continue
            _move(part, pending.part_for(final, index, drop_if_empty=set_apart))
            index += 1
    except pa.ArrowException as exc:
        raise ContractError(f"{where}: {str(exc).splitlines()[0]}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return pending.row_count(final)


def _move(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; copied by the operating system when the
    scratch folder is on another file system than the data root."""
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copyfile(source, target)
