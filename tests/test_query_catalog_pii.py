"""Issue 5: what an installed enrichment plugin adds is what a steward finds in
the catalog, through CatalogManager and through SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobforge.catalog.manager import CatalogManager
from jobforge.engine.pipeline import PipelineEngine
from jobforge.pipeline.config import PipelineConfig
from jobforge.query import QueryEngine

PEOPLE = "id,email,First Name,city\n1,a@x.org,Ann,Ottawa\n2,b@y.org,Bob,Halifax\n"
PII_SQL = (
    "SELECT name FROM catalog.columns WHERE layer = 'silver' AND table_name = 'people' "
    "AND pii_classification = 'direct_identifier' ORDER BY position"
)


def _run(tmp_path: Path, **config: object) -> PipelineConfig:
    source = tmp_path / "people.csv"
    source.write_text(PEOPLE, encoding="utf-8")
    engine = PipelineEngine(PipelineConfig(tmp_path / "data", **config))  # type: ignore[arg-type]
    engine.run_full_pipeline(source, "people", "hr")
    return engine.config


@pytest.mark.installed_plugins
def test_pii_found_by_the_example_plugin_is_queryable(tmp_path: Path) -> None:
    config = _run(tmp_path, entry_points=True)
    entry = CatalogManager(config).get("silver", "people")
    assert entry.data_steward == "example-steward@jobforge.example"
    with QueryEngine(config) as engine:
        assert engine.query(PII_SQL)["name"].to_list() == ["email", "First Name"]
        description = engine.query(
            "SELECT description FROM catalog.columns "
            "WHERE layer = 'staged' AND table_name = 'people' AND name = 'email'"
        ).item()
        assert description == "Direct personal identifier: e-mail address (jobforge-example)."


def test_without_the_plugin_no_column_is_classified(tmp_path: Path) -> None:
    config = _run(tmp_path, entry_points=False)
    with QueryEngine(config) as engine:
        assert engine.query(PII_SQL).is_empty()
        assert (
            engine.query(
                "SELECT data_steward FROM catalog.tables WHERE key = 'silver.people'"
            ).item()
            is None
        )
