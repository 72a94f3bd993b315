"""A jobforge version of a Delta table as delta-rs' Arrow dataset (what the
query views register in DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
from deltalake import DeltaTable


def version_dataset(folder: Path, delta_version: int) -> tuple[ds.Dataset, list[Path]]:
    """The Delta table in ``folder`` at ``delta_version`` as an Arrow dataset, and
    the files it reads."""
    table = DeltaTable(str(folder), version=delta_version)
    return table.to_pyarrow_dataset(), [Path(uri) for uri in table.file_uris()]
