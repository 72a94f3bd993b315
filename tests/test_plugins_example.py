"""The installed example distribution (tests/example_plugin, ``jobforge-example``),
found through the real ``jobforge`` entry-point group.

The distribution is installed by pip into a folder of the test session
(``example_distribution`` in the suite's conftest), never into the environment
running the tests; the ``installed_plugins`` marker puts that folder on
``sys.path`` and ``PYTHONPATH``. Every other test sees jobforge's defaults.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pluggy
import pytest
from pydantic import ValidationError

from jobforge import hookimpl
from jobforge.catalog.declarations import ColumnDeclaration, TableDeclaration
from jobforge.catalog.entries import load_entry
from jobforge.catalog.profile import profile_files
from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import NoPluginError, PluginError, TransitionError
from jobforge.hooks import manager, specs
from jobforge.pipeline.config import Layer, PipelineConfig

pytestmark = pytest.mark.installed_plugins

MODULE = "jobforge_example.plugin"
LABEL = "'example' (jobforge-example 0.1.0)"
STEWARD = "example-steward@jobforge.example"
PEOPLE = (
    "id,email,First Name,city\n1,a@x.org,Ann,Ottawa\n2,b@y.org,Bob,Halifax\n3,c@z.org,Cy,Regina\n"
)


@pytest.fixture
def fresh_example() -> Iterator[None]:
    """Forget the imported example module, so that the next load runs its
    import-time code again (``import`` and ``misspelled`` faults act there);
    the module imported before is put back afterwards."""
    saved = sys.modules.pop(MODULE, None)
    try:
        yield
    finally:
        sys.modules.pop(MODULE, None)
        package = sys.modules.get("jobforge_example")
        if saved is not None:
            sys.modules[MODULE] = saved
        if package is not None:
            if saved is not None:
                package.plugin = saved  # type: ignore[attr-defined]
            elif hasattr(package, "plugin"):
                del package.plugin


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    return path


def info(config: PipelineConfig, name: str = "example") -> dict[str, object]:
    found = [i.as_dict() for i in config.plugins.infos if i.name == name]
    assert len(found) == 1, found
    return found[0]


def catalog_entry(root: Path, layer: str, table: str) -> dict:
    return json.loads((root / "catalog" / "tables" / layer / f"{table}.json").read_text("utf-8"))


# -- discovery ---------------------------------------------------------------------
def test_the_distribution_is_installed_with_its_entry_point() -> None:
    assert metadata.version("jobforge-example") == "0.1.0"
    eps = [ep for ep in metadata.entry_points(group="jobforge") if ep.name == "example"]
    assert [(ep.value, ep.dist.name if ep.dist else None) for ep in eps][:1] == [
        ("jobforge_example.plugin", "jobforge-example")
    ]


def test_installed_entry_points_are_unique_and_sorted() -> None:
    names = [ep.name for ep in manager.installed_entry_points()]
    assert "example" in names
    assert names == sorted(set(names))


def test_the_example_plugin_is_discovered(tmp_path: Path) -> None:
    config = PipelineConfig(tmp_path / "data")
    assert info(config) == {
        "name": "example",
        "source": "entry point",
        "module": "jobforge_example.plugin",
        "distribution": "jobforge-example",
        "version": "0.1.0",
        "status": "loaded",
        "error": None,
        "hooks": [
            "jobforge_enrich_column_metadata",
            "jobforge_enrich_table_metadata",
            "jobforge_resolve_layer_path",
        ],
    }
    # bundled first, then the installed plugin
    assert [i.name for i in config.plugins.infos] == [
        "dama",
        "readers",
        "polars",
        "catalog-json",
        "parquet-store",
        "delta-store",
        "openlineage",
        "duckdb",
        "spark",
        "example",
    ]


def test_the_test_fixture_config_has_no_entry_points(jobforge_config: PipelineConfig) -> None:
    assert "example" not in [i.name for i in jobforge_config.plugins.infos]
    assert jobforge_config.plugins.implementations("jobforge_resolve_layer_path") == ["dama"]


# -- layout --------------------------------------------------------------------------
def test_its_layout_changes_staged_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOBFORGE_EXAMPLE_LAYOUT_ROOT", str(tmp_path / "elsewhere"))
    config = PipelineConfig()
    assert config.staged_path() == tmp_path / "elsewhere" / "staged"
    assert config.gold_path() == tmp_path / "elsewhere" / "gold"
    # it moves the layers only: quarantine and catalog stay with the DAMA layout
    assert config.quarantine_path() == Path("data") / "quarantine"
    assert config.catalog_path() == Path("data") / "catalog"
    assert config.plugins.implementations("jobforge_resolve_layer_path") == ["example", "dama"]


def test_without_its_setting_the_layout_falls_through_to_dama(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = PipelineConfig()
    assert info(config)["status"] == "loaded"
    assert config.staged_path() == Path("data") / "staged"


def test_an_engine_run_writes_where_its_layout_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people_csv: Path
) -> None:
    monkeypatch.setenv("JOBFORGE_EXAMPLE_LAYOUT_ROOT", str(tmp_path / "elsewhere"))
    engine = PipelineEngine(PipelineConfig(tmp_path / "data"))
    result = engine.ingest(people_csv, "people", "hr")
    assert result.rows == 3
    assert result.path.parent == tmp_path / "elsewhere" / "staged" / "people"
    assert result.path.is_file()
    assert not (tmp_path / "data" / "staged" / "people").exists()


@pytest.mark.parametrize(
    ("env", "kwargs"),
    [({"JOBFORGE_DISABLE_PLUGINS": "example"}, {}), ({}, {"disable_plugins": ["example"]})],
    ids=["environment", "config"],
)
def test_disabling_it_by_name_restores_the_dama_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: dict
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOBFORGE_EXAMPLE_LAYOUT_ROOT", str(tmp_path / "elsewhere"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = PipelineConfig(**kwargs)
    assert info(config)["status"] == "disabled"
    assert info(config)["hooks"] == []
    assert config.staged_path() == Path("data") / "staged"
    assert config.plugins.implementations("jobforge_resolve_layer_path") == ["dama"]


# -- enrichment in the written catalog ---------------------------------------------------
def test_its_enrichment_shows_up_in_the_catalog_json(tmp_path: Path, people_csv: Path) -> None:
    root = tmp_path / "data"
    PipelineEngine(PipelineConfig(root)).run_full_pipeline(people_csv, "people", "hr")
    for layer in ("staged", "bronze", "silver"):
        entry = catalog_entry(root, layer, "people")
        assert entry["data_steward"] == STEWARD
        columns = {c["name"]: c for c in entry["columns"]}
        assert columns["email"]["pii_classification"] == "direct_identifier"
        assert columns["email"]["description"] == (
            "Direct personal identifier: e-mail address (jobforge-example)."
        )
        assert columns["First Name"]["pii_classification"] == "direct_identifier"
        assert columns["First Name"]["description"] == (
            "Direct personal identifier: name of a person (jobforge-example)."
        )
        for plain in ("id", "city"):
            assert columns[plain]["pii_classification"] is None
            assert columns[plain]["description"] == ""
        # the bundled default still describes the provenance columns
        assert columns["_batch_id"]["pii_classification"] == "none"


def test_declared_values_win_over_its_enrichment(tmp_path: Path, people_csv: Path) -> None:
    root = tmp_path / "data"
    declaration = TableDeclaration(
        steward="hr-steward@example.org",
        columns={"email": ColumnDeclaration(pii="sensitive", description="Work e-mail.")},
    )
    PipelineEngine(PipelineConfig(root)).ingest(people_csv, "people", declaration=declaration)
    entry = catalog_entry(root, "staged", "people")
    columns = {c["name"]: c for c in entry["columns"]}
    assert entry["data_steward"] == "hr-steward@example.org"
    assert (columns["email"]["pii_classification"], columns["email"]["description"]) == (
        "sensitive",
        "Work e-mail.",
    )
    assert columns["First Name"]["pii_classification"] == "direct_identifier"


@pytest.mark.parametrize(
    ("env", "kwargs"),
    [({"JOBFORGE_DISABLE_PLUGINS": "example"}, {}), ({}, {"disable_plugins": ["example"]})],
    ids=["environment", "config"],
)
def test_disabling_it_restores_the_default_catalog(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    people_csv: Path,
    env: dict[str, str],
    kwargs: dict,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "data"
    PipelineEngine(PipelineConfig(root, **kwargs)).ingest(people_csv, "people", "hr")
    entry = catalog_entry(root, "staged", "people")
    columns = {c["name"]: c for c in entry["columns"]}
    assert entry["data_steward"] is None
    assert columns["email"]["pii_classification"] is None
    assert columns["email"]["description"] == ""
    assert entry["description"] == (
        "people in the staged layer (domain hr); no description was declared."
    )


# -- allow-list ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("load_env", "load_kwarg", "status"),
    [
        ("", None, "disabled"),
        ("example", None, "loaded"),
        ("other, example", None, "loaded"),
        ("other", None, "disabled"),
        (None, [], "disabled"),
        (None, ["example"], "loaded"),
        (None, None, "loaded"),
    ],
)
def test_the_load_allow_list(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    load_env: str | None,
    load_kwarg: list[str] | None,
    status: str,
) -> None:
    if load_env is not None:
        monkeypatch.setenv("JOBFORGE_LOAD_PLUGINS", load_env)
    config = PipelineConfig(tmp_path, load_plugins=load_kwarg)
    assert info(config)["status"] == status
    # the allow-list is about installed plugins: the bundled ones always load
    assert [i.status for i in config.plugins.infos if i.source == "bundled"] == ["loaded"] * 9


def test_disable_wins_over_the_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBFORGE_LOAD_PLUGINS", "example")
    monkeypatch.setenv("JOBFORGE_DISABLE_PLUGINS", "example")
    assert info(PipelineConfig(tmp_path))["status"] == "disabled"


# -- disabled plugins are never imported -------------------------------------------------------
@pytest.mark.usefixtures("fresh_example")
def test_the_import_fault_is_live_when_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "import")
    with pytest.raises(PluginError) as caught:
        PipelineConfig(tmp_path).plugins  # noqa: B018 - building the manager is the point
    assert str(caught.value) == (
        f"plugin {LABEL} failed to load from jobforge_example.plugin: ImportError: "
        "jobforge_example.plugin refuses to import (JOBFORGE_EXAMPLE_FAULT=import)"
    )
    assert isinstance(caught.value.__cause__, ImportError)
    assert MODULE not in sys.modules


@pytest.mark.usefixtures("fresh_example")
@pytest.mark.parametrize(
    ("env", "kwargs"),
    [
        ({"JOBFORGE_DISABLE_PLUGINS": "other , example"}, {}),
        ({}, {"disable_plugins": ["example"]}),
        ({"JOBFORGE_LOAD_PLUGINS": ""}, {}),
        ({}, {"load_plugins": ["something-else"]}),
    ],
    ids=["disable-env", "disable-config", "empty-allow-list", "allow-list-config"],
)
def test_a_disabled_plugin_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: dict
) -> None:
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "import")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = PipelineConfig(tmp_path, **kwargs)
    assert info(config)["status"] == "disabled"
    assert config.staged_path() == tmp_path / "staged"
    assert MODULE not in sys.modules


# -- faults name the plugin, its distribution and version, and the hook ---------------------------
@pytest.mark.usefixtures("fresh_example")
def test_an_import_fault_stops_the_engine_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "import")
    root = tmp_path / "data"
    with pytest.raises(PluginError, match=r"^plugin 'example' \(jobforge-example 0\.1\.0\) "):
        PipelineEngine(PipelineConfig(root))
    assert not root.exists()


def _staged_people(tmp_path: Path, people_csv: Path) -> tuple[PipelineConfig, Path]:
    """A config with the example plugin and one clean ingestion of people.csv."""
    root = tmp_path / "data"
    config = PipelineConfig(root)
    PipelineEngine(config).ingest(people_csv, "people", "hr")
    return config, root


def test_an_exception_in_its_hook_is_a_named_plugin_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people_csv: Path
) -> None:
    config, root = _staged_people(tmp_path, people_csv)
    entry = load_entry(config, "staged", "people")
    assert entry is not None
    profile = profile_files(
        "people", "staged", sorted((root / "staged" / "people").glob("*.parquet"))
    )
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "hook")
    with pytest.raises(PluginError) as caught:
        config.plugins.enrich_table_metadata(entry, profile, config)
    assert str(caught.value) == (
        f"plugin {LABEL} raised in jobforge_enrich_table_metadata: RuntimeError: "
        "injected fault in table enrichment (JOBFORGE_EXAMPLE_FAULT=hook)"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_an_invalid_enrichment_value_is_a_named_plugin_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, people_csv: Path
) -> None:
    config, root = _staged_people(tmp_path, people_csv)
    entry = load_entry(config, "staged", "people")
    assert entry is not None
    profile = profile_files(
        "people", "staged", sorted((root / "staged" / "people").glob("*.parquet"))
    )
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "enrich")
    with pytest.raises(PluginError) as caught:
        config.plugins.enrich_table_metadata(entry, profile, config)
    assert str(caught.value) == (
        f"plugin {LABEL} returned an invalid value from jobforge_enrich_table_metadata: "
        "classification: Input should be 'public', 'internal', 'confidential' or 'restricted'"
    )
    assert isinstance(caught.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    ("fault", "expected", "cause"),
    [
        (
            "hook",
            "raised in jobforge_enrich_table_metadata: RuntimeError: injected fault",
            RuntimeError,
        ),
        (
            "enrich",
            "returned an invalid value from jobforge_enrich_table_metadata: classification",
            ValidationError,
        ),
    ],
)
def test_a_hook_fault_fails_the_engine_run_and_publishes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    people_csv: Path,
    fault: str,
    expected: str,
    cause: type[BaseException],
) -> None:
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", fault)
    root = tmp_path / "data"
    engine = PipelineEngine(PipelineConfig(root))
    with pytest.raises(TransitionError) as caught:
        engine.ingest(people_csv, "people", "hr")
    plugin_error = caught.value.__cause__
    assert isinstance(plugin_error, PluginError)
    assert str(plugin_error).startswith(f"plugin {LABEL} {expected}")
    assert isinstance(plugin_error.__cause__, cause)
    assert f"plugin {LABEL} {expected}" in str(caught.value)
    # nothing published, no catalog entry; the failed ingestion is on record
    assert list((root / "staged").rglob("*.parquet")) == []
    assert engine.current(Layer.STAGED, "people") is None
    assert not (root / "catalog" / "tables" / "staged" / "people.json").exists()
    [record_file] = (root / "catalog" / "lineage" / "people").glob("*.json")
    record = json.loads(record_file.read_text("utf-8"))
    assert record["status"] == "failed"
    assert record["errors"][0].startswith(f"plugin {LABEL} {expected}")


@pytest.mark.usefixtures("fresh_example")
def test_a_misspelled_hook_is_caught_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "misspelled")
    with pytest.raises(PluginError) as caught:
        PipelineConfig(tmp_path).plugins  # noqa: B018
    assert str(caught.value) == (
        f"plugin {LABEL} implements unknown hook jobforge_resolve_layer_pth "
        "(did you mean jobforge_resolve_layer_path?)"
    )


@pytest.mark.usefixtures("fresh_example")
def test_pluggy_check_pending_catches_the_misspelled_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same module on a bare pluggy manager: ``check_pending`` refuses it."""
    monkeypatch.setenv("JOBFORGE_EXAMPLE_FAULT", "misspelled")
    [ep] = [e for e in metadata.entry_points(group="jobforge") if e.name == "example"]
    module = ep.load()
    pm = pluggy.PluginManager("jobforge")
    pm.add_hookspecs(specs)
    pm.register(module, name="example")
    with pytest.raises(
        pluggy.PluginValidationError, match="unknown hook 'jobforge_resolve_layer_pth'"
    ):
        pm.check_pending()


# -- the example does not replace the DAMA layout on its own ---------------------------
def test_disabling_dama_with_only_the_example_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBFORGE_DISABLE_PLUGINS", "dama")
    monkeypatch.setenv("JOBFORGE_EXAMPLE_LAYOUT_ROOT", str(tmp_path / "elsewhere"))
    # it moves the layers but provides no quarantine or catalog path
    with pytest.raises(NoPluginError) as caught:
        PipelineConfig(tmp_path).plugins  # noqa: B018
    assert str(caught.value) == (
        "no plugin provides jobforge_resolve_quarantine_path (disabled plugins: dama)"
    )


def test_a_layout_that_answers_none_is_reported_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class RestOfLayout:
        jobforge_plugin_name = "rest"

        @hookimpl
        def jobforge_resolve_quarantine_path(self) -> Path:
            return tmp_path / "q"

        @hookimpl
        def jobforge_resolve_catalog_path(self) -> Path:
            return tmp_path / "c"

    monkeypatch.setenv("JOBFORGE_DISABLE_PLUGINS", "dama")
    config = PipelineConfig(tmp_path, plugins=[RestOfLayout()])
    assert config.catalog_path() == tmp_path / "c"
    # the example implements the layer hook but, unconfigured, answers None
    with pytest.raises(NoPluginError) as caught:
        config.staged_path()
    assert str(caught.value) == (
        "no plugin provides jobforge_resolve_layer_path (disabled plugins: dama)"
    )
    monkeypatch.setenv("JOBFORGE_EXAMPLE_LAYOUT_ROOT", str(tmp_path / "elsewhere"))
    assert config.staged_path() == tmp_path / "elsewhere" / "staged"
