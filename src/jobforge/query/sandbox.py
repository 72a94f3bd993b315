"""A DuckDB connection that reads exactly the parquet files it is given and can
neither read nor write any other file: the one place where jobforge opens
DuckDB for SQL it did not write (``jobforge query`` and gold SQL).

DuckDB never opens a file itself here. Each set of parquet files is handed to
DuckDB as a pyarrow dataset built from the literal list of paths, so no path is
ever taken as a pattern (DuckDB's ``read_parquet`` expands ``*``, ``?`` and
``[...]`` in file names). Then :meth:`Sandbox.lock` closes the connection:

- ``disabled_filesystems = 'LocalFileSystem'``: no statement can open a local
  file, to read or to write (``COPY ... TO``, ``ATTACH``, ``EXPORT DATABASE``,
  ``read_csv``, ``FROM 'file'``, spilling to disk);
- ``allowed_paths`` is exactly the files behind the relations (a second bound,
  should the file system ever be enabled), ``allowed_directories`` is empty;
- ``enable_external_access = false``: no extension install or load, no
  replacement scans, no other external state;
- ``lock_configuration = true``: no statement can change any of it back.

Python replacement scans (a query naming a Python variable) are off from the
start, and there is no temporary directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobforge.query.guard import quote_ident, quote_literal

SAFE_SETTINGS: dict[str, Any] = {
    "temp_directory": "",
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}
"""Settings every sandbox connection starts with."""

_SOURCE_PREFIX = "_jobforge_files_"
_LOCAL = pafs.LocalFileSystem()


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def _schema_key(schema: pa.Schema) -> tuple[tuple[str, str], ...]:
    return tuple((field.name, str(field.type)) for field in schema)


class Sandbox:
    """An in-memory DuckDB connection over literal lists of parquet files.

    Register file sets with :meth:`parquet` (before :meth:`lock`), create views
    or tables over them, then :meth:`lock` the connection and run queries on
    :attr:`con`. Keep the sandbox alive as long as the connection is used: it
    holds the datasets DuckDB reads.
    """

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        config = {**SAFE_SETTINGS, **(settings or {})}
        self.con = duckdb.connect(":memory:", config=config)
        self.files: list[str] = []
        """Every file registered, resolved, in order."""
        self._datasets: list[ds.Dataset] = []
        self.locked = False

    def parquet(self, files: Sequence[Path]) -> str:
        """A SQL relation (to put after ``FROM``) over exactly ``files``.

        Files with the same columns and types are read as one dataset; sets
        with different schemas are combined ``UNION ALL BY NAME`` (as
        ``read_parquet(..., union_by_name = true)`` would: a column missing
        from a file is null there, types are widened to a common one).
        """
        if self.locked:
            raise RuntimeError("the sandbox is locked: register files before locking it")
        if not files:
            raise ValueError("no files given")
        paths = [str(Path(f).resolve()) for f in files]
        groups: dict[tuple[tuple[str, str], ...], tuple[pa.Schema, list[str]]] = {}
        for path in paths:
            schema = pq.read_schema(path, filesystem=_LOCAL)
            groups.setdefault(_schema_key(schema), (schema, []))[1].append(path)
        names = []
        for schema, group in groups.values():
            dataset = ds.dataset(
                group, schema=schema.remove_metadata(), format="parquet", filesystem=_LOCAL
            )
            name = f"{_SOURCE_PREFIX}{len(self._datasets)}"
            self.con.register(name, dataset)
            self._datasets.append(dataset)
            names.append(quote_ident(name))
        self.files.extend(paths)
        if len(names) == 1:
            return names[0]
        return "(" + " UNION ALL BY NAME ".join(f"SELECT * FROM {n}" for n in names) + ")"

    def dataset(self, dataset: ds.Dataset, files: Sequence[Path]) -> str:
        """A SQL relation over an Arrow dataset a table store built (the Delta
        store's delta-rs dataset), which reads exactly ``files``: DuckDB scans it
        through Arrow and opens no file itself, so the lock holds as for
        :meth:`parquet`."""
        if self.locked:
            raise RuntimeError("the sandbox is locked: register datasets before locking it")
        name = f"{_SOURCE_PREFIX}{len(self._datasets)}"
        self.con.register(name, dataset)
        self._datasets.append(dataset)
        self.files.extend(str(Path(f).resolve()) for f in files)
        return quote_ident(name)

    def lock(self) -> duckdb.DuckDBPyConnection:
        """Close the connection to every file and lock its configuration.

        Order matters: the allow-list can only be set while external access is
        on, and nothing can be changed once the configuration is locked.
        """
        con = self.con
        con.execute(f"SET allowed_paths = {_sql_list(sorted(set(self.files)))}")
        con.execute("SET allowed_directories = []")
        con.execute("SET disabled_filesystems = 'LocalFileSystem'")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        self.locked = True
        return con

    def close(self) -> None:
        self.con.close()
        self._datasets.clear()
