"""A jobforge version of a Delta table as delta-rs' Arrow dataset (what the
query views register in DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
from deltalake import DeltaTable

from jobforge.plugin import CurrentVersion
from jobforge_delta.maintain import DELTA_VERSION


def version_dataset(folder: Path, version: CurrentVersion) -> tuple[ds.Dataset, list[Path]]:
    """The Delta snapshot that published ``version`` (its Delta version) as an
    Arrow dataset, and the files it reads."""
    table = DeltaTable(str(folder), version=int(version.extra[DELTA_VERSION]))
    return table.to_pyarrow_dataset(), [Path(uri) for uri in table.file_uris()]
