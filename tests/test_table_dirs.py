"""A store's table folders: worked out once per table, and a name that is no
table name refused every time it is asked for (``LocalTableFolders.table_dir``
keeps each folder it validated; an appended table's step asks for it once for
every batch it keeps)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jobforge_delta.store import DeltaStore
from jobforge_parquet_store.store import ParquetStore

from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.storage.names import InvalidNameError


@pytest.mark.parametrize("store_class", [ParquetStore, DeltaStore])
def test_each_table_has_its_layers_folder(store_class: type, tmp_path: Path) -> None:
    config = PipelineConfig(tmp_path / "data")
    store = store_class(config)
    for _ in range(2):  # the second time from what the store kept
        assert store.table_dir("bronze", "people") == config.layer_path(Layer.BRONZE) / "people"
        assert store.table_dir("silver", "people") == config.layer_path(Layer.SILVER) / "people"
        assert store.table_dir("bronze", "roles") == config.layer_path(Layer.BRONZE) / "roles"
    other = store_class(PipelineConfig(tmp_path / "elsewhere"))
    assert other.table_dir("bronze", "people") == tmp_path / "elsewhere" / "bronze" / "people"


@pytest.mark.parametrize("name", ["../people", "a/b", "", ".", "people\x00"])
def test_a_name_that_is_no_table_name_is_refused_every_time(tmp_path: Path, name: str) -> None:
    store = ParquetStore(PipelineConfig(tmp_path / "data"))
    for _ in range(2):
        with pytest.raises(InvalidNameError):
            store.table_dir("bronze", name)


def test_a_layer_that_is_no_layer_is_refused_every_time(tmp_path: Path) -> None:
    store = ParquetStore(PipelineConfig(tmp_path / "data"))
    for _ in range(2):
        with pytest.raises(ValueError, match="nowhere"):
            store.table_dir("nowhere", "people")
