"""Issue 2: the installable package, the data layout, Layer and PipelineConfig."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import write_json_schemas

from .conftest import REPO

LAYOUT = [
    "data/staged",
    "data/bronze",
    "data/silver",
    "data/gold",
    "data/quarantine",
    "data/catalog/tables",
    "data/catalog/lineage",
    "data/catalog/glossary",
    "data/catalog/schemas",
]


def _python(code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return result.stdout.strip()


def test_installed_version_is_2_0_0(tmp_path: Path) -> None:
    assert _python("import jobforge; print(jobforge.__version__)", tmp_path) == "2.0.0"


def test_version_is_defined_once() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert project["name"] == "jobforge"
    assert project["requires-python"] == ">=3.11"


def test_import_is_light(tmp_path: Path) -> None:
    heavy = ("polars", "duckdb", "pyarrow", "structlog", "jobforge_dama", "importlib.metadata")
    loaded = _python(
        "import sys, jobforge; "
        f"print(','.join(m for m in sys.modules if m.split('.')[0] in {heavy!r}))",
        tmp_path,
    )
    assert loaded == ""


def test_py_typed_is_shipped() -> None:
    assert (REPO / "src" / "jobforge" / "py.typed").is_file()


@pytest.mark.parametrize("directory", LAYOUT)
def test_layout_is_checked_in(directory: str) -> None:
    assert (REPO / directory / ".gitkeep").is_file()


def test_gitignore_keeps_layout_and_catalog(tmp_path: Path) -> None:
    def ignored(path: str) -> bool:
        result = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, check=False
        )
        return result.returncode == 0

    assert ignored("data/staged/noc/batch=1.parquet")
    assert ignored("data/gold/dim_noc/_current.json")
    assert ignored("data/quarantine/noc/bronze/batch=1.parquet")
    assert not ignored("data/staged/.gitkeep")
    assert not ignored("data/catalog/tables/gold/dim_noc.json")
    assert not ignored("data/catalog/lineage/noc/x.json")


def test_seed_imports_and_default_staged_path(tmp_path: Path) -> None:
    out = _python(
        "from jobforge.pipeline.models import ProvenanceColumns, LayerTransitionLog, "
        "TableMetadata\n"
        "from jobforge.pipeline.config import PipelineConfig, Layer\n"
        "print(PipelineConfig().staged_path())",
        tmp_path,
        env={"PATH": "/usr/bin:/bin", "JOBFORGE_DISABLE_PLUGINS": "example"},
    )
    assert out == "data/staged"


def test_layer_order_and_next() -> None:
    assert [layer.value for layer in Layer] == ["staged", "bronze", "silver", "gold"]
    assert Layer.STAGED.next() is Layer.BRONZE
    assert Layer.SILVER.next() is Layer.GOLD
    assert Layer.GOLD.next() is None
    assert Layer.BRONZE.previous() is Layer.STAGED
    assert Layer.STAGED.previous() is None
    assert Layer("silver") is Layer.SILVER
    assert Layer.GOLD == "gold"


def test_default_paths() -> None:
    config = PipelineConfig()
    assert config.data_root == Path("data")
    assert config.staged_path() == Path("data/staged")
    assert config.bronze_path() == Path("data/bronze")
    assert config.silver_path() == Path("data/silver")
    assert config.gold_path() == Path("data/gold")
    assert config.layer_path(Layer.GOLD) == Path("data/gold")
    assert config.layer_path("bronze") == Path("data/bronze")
    assert config.quarantine_path() == Path("data/quarantine")
    assert config.catalog_path() == Path("data/catalog")
    assert config.catalog_tables_path() == Path("data/catalog/tables")
    assert config.catalog_lineage_path() == Path("data/catalog/lineage")
    assert config.catalog_glossary_path() == Path("data/catalog/glossary")
    assert config.catalog_schemas_path() == Path("data/catalog/schemas")


def test_data_root_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PipelineConfig("/srv/warehouse").silver_path() == Path("/srv/warehouse/silver")
    monkeypatch.setenv("JOBFORGE_DATA_ROOT", "/tmp/elsewhere")
    assert PipelineConfig().gold_path() == Path("/tmp/elsewhere/gold")
    assert PipelineConfig("explicit").gold_path() == Path("explicit/gold")


def test_unknown_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="platinum"):
        PipelineConfig().layer_path("platinum")


def test_ensure_layout_is_idempotent(tmp_path: Path) -> None:
    config = PipelineConfig(tmp_path / "root")
    first = config.ensure_layout()
    second = config.ensure_layout()
    assert first == second
    created = sorted(str(p.relative_to(tmp_path / "root")) for p in first)
    assert created == sorted(d.removeprefix("data/") for d in LAYOUT)
    assert all(p.is_dir() for p in first)


def test_each_config_has_its_own_plugin_manager(tmp_path: Path) -> None:
    a, b = PipelineConfig(tmp_path), PipelineConfig(tmp_path)
    assert a.plugins is a.plugins
    assert a.plugins.pm is not b.plugins.pm


def test_json_schemas_are_written_and_valid(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    written = write_json_schemas(tmp_path)
    names = sorted(p.name for p in written)
    assert names == sorted(
        f"{n}.schema.json"
        for n in (
            "ProvenanceColumns",
            "LayerTransitionLog",
            "ColumnMetadata",
            "TableMetadata",
            "RowLedger",
            "TransitionRecord",
            "IngestionRecord",
        )
    )
    for path in written:
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
    provenance = json.loads((tmp_path / "ProvenanceColumns.schema.json").read_text())
    assert sorted(provenance["properties"]) == [
        "_batch_id",
        "_ingested_at",
        "_layer",
        "_source_file",
    ]
