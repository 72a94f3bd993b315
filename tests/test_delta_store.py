"""The Delta Lake store (plugin ``delta-store``) passes the table-store
conformance suite on local disk, and keeps Delta tables other readers read."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobforge.pipeline.config import PipelineConfig
from jobforge.testing.table_store import StoreFactory, TableStoreConformance


def delta_config(data_root: Path) -> PipelineConfig:
    return PipelineConfig(data_root, entry_points=False, storage_format="delta")


class TestDeltaStore(TableStoreConformance):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return StoreFactory("tests.test_delta_store:delta_config", tmp_path / "data")
