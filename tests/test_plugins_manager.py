"""The plugin manager: discovery order, de-duplication, call order, disabling,
checks at registration, and how enrichment results combine.

Fake entry points (a monkeypatched ``importlib.metadata.entry_points`` over
real modules written to a temporary folder) cover cases an installed
distribution cannot; ``test_plugins_example.py`` covers the real path.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from jobforge import hookimpl
from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import NoPluginError, PluginError
from jobforge.hooks import manager
from jobforge.hooks.host import build_host
from jobforge.hooks.markers import hookspec
from jobforge.pipeline.config import Layer, PipelineConfig
from jobforge.pipeline.models import TableMetadata
from jobforge.testing import isolated_config

CSV = "code,title\n1,Alpha\n2,Beta\n"

LAYOUT_MODULE = """
from jobforge import hookimpl

@hookimpl{marker}
def jobforge_resolve_layer_path(config, layer):
    return config.data_root / "{name}-{{}}".format(layer.value)
"""


@pytest.fixture
def fake_dist(tmp_path: Path) -> metadata.Distribution:
    info = tmp_path / "fake_dist-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fake-dist\nVersion: 1.2.3\n", encoding="utf-8"
    )
    return metadata.PathDistribution(info)


@pytest.fixture
def fake_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_dist: metadata.Distribution
) -> Iterator[Callable[..., None]]:
    """``install((name, module, marker), ...)``: write each layout module and make
    it the only entry points of group ``jobforge``, in the order given."""
    folder = tmp_path / "fake_plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    written: list[str] = []

    def install(*plugins: tuple[str, str, str]) -> None:
        eps = []
        for name, module, marker in plugins:
            path = folder / f"{module}.py"
            if not path.exists():
                path.write_text(LAYOUT_MODULE.format(name=name, marker=marker), encoding="utf-8")
                written.append(module)
            ep = metadata.EntryPoint(name=name, value=module, group="jobforge")
            eps.append(ep._for(fake_dist))  # type: ignore[attr-defined]
        monkeypatch.setattr(
            manager.metadata,
            "entry_points",
            lambda **params: metadata.EntryPoints(eps).select(**params),
        )

    yield install
    for module in written:
        sys.modules.pop(module, None)


# -- entry points ----------------------------------------------------------------------------
def test_entry_points_are_deduplicated_and_sorted(fake_entry_points: Callable[..., None]) -> None:
    fake_entry_points(
        ("zeta", "jf_fake_zeta", ""),
        ("alpha", "jf_fake_alpha", ""),
        ("zeta", "jf_fake_zeta", ""),  # the same distribution seen twice (lib64 -> lib)
        ("beta", "jf_fake_beta", ""),
    )
    assert [(ep.name, ep.value) for ep in manager.installed_entry_points()] == [
        ("alpha", "jf_fake_alpha"),
        ("beta", "jf_fake_beta"),
        ("zeta", "jf_fake_zeta"),
    ]


def test_installed_plugins_register_in_sorted_order(
    tmp_path: Path, fake_entry_points: Callable[..., None]
) -> None:
    fake_entry_points(("beta", "jf_fake_beta", ""), ("alpha", "jf_fake_alpha", ""))
    config = PipelineConfig(tmp_path)
    after_bundled = config.plugins.infos[len(manager.BUNDLED_PLUGINS) :]
    assert [(i.name, i.source, i.distribution, i.version) for i in after_bundled] == [
        ("alpha", "entry point", "fake-dist", "1.2.3"),
        ("beta", "entry point", "fake-dist", "1.2.3"),
    ]
    # the last registered is called first: beta, then alpha, then the bundled default
    assert config.plugins.implementations("jobforge_resolve_layer_path") == [
        "beta",
        "alpha",
        "dama",
    ]
    assert config.staged_path() == tmp_path / "beta-staged"


def test_tryfirst_puts_an_installed_plugin_before_explicit_ones(
    tmp_path: Path, fake_entry_points: Callable[..., None]
) -> None:
    fake_entry_points(("early", "jf_fake_early", "(tryfirst=True)"))

    class Explicit:
        jobforge_plugin_name = "explicit-layout"

        @hookimpl
        def jobforge_resolve_layer_path(self, layer: Layer) -> Path:
            return tmp_path / "explicit" / layer.value

    config = PipelineConfig(tmp_path, plugins=[Explicit()])
    assert config.plugins.implementations("jobforge_resolve_layer_path") == [
        "early",
        "explicit-layout",
        "dama",
    ]
    assert config.plugins.call_order("jobforge_resolve_layer_path")[0] == {
        "position": 1,
        "plugin": "early",
        "source": "entry point",
        "distribution": "fake-dist",
        "version": "1.2.3",
        "tryfirst": True,
        "trylast": False,
    }
    assert config.gold_path() == tmp_path / "early-gold"


def test_two_plugins_with_one_name_are_refused(
    tmp_path: Path, fake_entry_points: Callable[..., None]
) -> None:
    fake_entry_points(("same", "jf_fake_same_a", ""), ("same", "jf_fake_same_b", ""))
    expected = (
        "plugin 'same' (fake-dist 1.2.3): the name 'same' is already used by "
        "'same' (fake-dist 1.2.3); plugin names must be unique"
    )
    with pytest.raises(PluginError) as caught:
        PipelineConfig(tmp_path).plugins  # noqa: B018
    assert str(caught.value) == expected
    listing = build_host(PipelineConfig(tmp_path), strict=False)
    assert [(i.module, i.status, i.error) for i in listing.infos if i.name == "same"] == [
        ("jf_fake_same_a", "loaded", None),
        ("jf_fake_same_b", "error", expected),
    ]


def test_an_installed_plugin_cannot_take_a_bundled_name(
    tmp_path: Path, fake_entry_points: Callable[..., None]
) -> None:
    fake_entry_points(("dama", "jf_fake_dama", ""))
    with pytest.raises(PluginError, match=r"the name 'dama' is already used by 'dama' \(jobforge "):
        PipelineConfig(tmp_path).plugins  # noqa: B018


def test_entry_points_false_skips_discovery(
    tmp_path: Path, fake_entry_points: Callable[..., None]
) -> None:
    fake_entry_points(("alpha", "jf_fake_alpha", ""))
    config = isolated_config(tmp_path)
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
    ]
    assert "jf_fake_alpha" not in sys.modules


@pytest.mark.installed_plugins
def test_explicit_wins_over_installed_which_wins_over_bundled(tmp_path: Path) -> None:
    class Mine:
        jobforge_plugin_name = "mine"

        @hookimpl
        def jobforge_resolve_layer_path(self, layer: Layer) -> Path:
            return tmp_path / "mine" / layer.value

        @hookimpl
        def jobforge_enrich_table_metadata(self) -> dict[str, str]:
            return {}

    config = PipelineConfig(tmp_path / "data", plugins=[Mine()])
    host = config.plugins
    assert [(i.name, i.source) for i in host.infos] == [
        ("dama", "bundled"),
        ("readers", "bundled"),
        ("polars", "bundled"),
        ("catalog-json", "bundled"),
        ("parquet-store", "bundled"),
        ("delta-store", "bundled"),
        ("openlineage", "bundled"),
        ("duckdb", "bundled"),
        ("spark", "bundled"),
        ("example", "entry point"),
        ("mine", "explicit"),
    ]
    assert host.implementations("jobforge_resolve_layer_path") == ["mine", "example", "dama"]
    assert host.implementations("jobforge_enrich_table_metadata") == [
        "mine",
        "example",
        "catalog-json",
    ]
    assert config.staged_path() == tmp_path / "mine" / "staged"


# -- disabling the bundled defaults -----------------------------------------------------------
@pytest.mark.installed_plugins  # the example, installed and disabled, is named in the hint too
@pytest.mark.parametrize(
    ("env", "kwargs"),
    [
        ({"JOBFORGE_DISABLE_PLUGINS": "dama,example"}, {}),
        ({"JOBFORGE_DISABLE_PLUGINS": "example"}, {"disable_plugins": ["dama"]}),
    ],
    ids=["environment", "config"],
)
def test_disabling_dama_without_a_replacement_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: dict
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = PipelineConfig(tmp_path, **kwargs)
    with pytest.raises(NoPluginError) as caught:
        config.staged_path()
    assert str(caught.value) == (
        "no plugin provides jobforge_resolve_layer_path (disabled plugins: dama, example)"
    )
    with pytest.raises(NoPluginError, match=r"^no plugin provides jobforge_resolve_layer_path "):
        PipelineEngine(PipelineConfig(tmp_path / "other", **kwargs))
    assert not (tmp_path / "other").exists()


def test_disabling_polars_names_the_executor_hook(tmp_path: Path) -> None:
    with pytest.raises(NoPluginError, match=r"^no plugin provides jobforge_executor \("):
        PipelineEngine(PipelineConfig(tmp_path, disable_plugins=["polars"]))


def test_listing_tolerates_a_missing_default(tmp_path: Path) -> None:
    host = build_host(PipelineConfig(tmp_path, disable_plugins=["dama"]), strict=False)
    assert (host.infos[0].name, host.infos[0].status) == ("dama", "disabled")
    assert host.missing_hooks() == [
        "jobforge_resolve_layer_path",
        "jobforge_resolve_quarantine_path",
        "jobforge_resolve_catalog_path",
    ]


class FlatLayout:
    """A complete replacement of the DAMA layout: everything under ``root``."""

    jobforge_plugin_name = "flat"

    def __init__(self, root: Path) -> None:
        self.root = root

    @hookimpl
    def jobforge_resolve_layer_path(self, layer: Layer) -> Path:
        return self.root / f"layer-{layer.value}"

    @hookimpl
    def jobforge_resolve_quarantine_path(self) -> Path:
        return self.root / "rejected"

    @hookimpl
    def jobforge_resolve_catalog_path(self) -> Path:
        return self.root / "meta"


def test_dama_can_be_replaced_by_a_complete_layout(tmp_path: Path) -> None:
    config = PipelineConfig(
        tmp_path / "unused", plugins=[FlatLayout(tmp_path / "flat")], disable_plugins=["dama"]
    )
    engine = PipelineEngine(config)
    source = tmp_path / "codes.csv"
    source.write_text(CSV, encoding="utf-8")
    result = engine.ingest(source, "codes")
    assert result.path.parent == tmp_path / "flat" / "layer-staged" / "codes"
    assert (tmp_path / "flat" / "meta" / "tables" / "staged" / "codes.json").is_file()
    assert config.quarantine_path() == tmp_path / "flat" / "rejected"
    assert not (tmp_path / "unused" / "staged").exists()


def test_an_explicit_plugin_can_be_disabled_by_name(tmp_path: Path) -> None:
    config = PipelineConfig(
        tmp_path, plugins=[FlatLayout(tmp_path / "flat")], disable_plugins=["flat"]
    )
    assert [(i.name, i.status) for i in config.plugins.infos][-1] == ("flat", "disabled")
    assert config.staged_path() == tmp_path / "staged"


# -- names of explicit plugins --------------------------------------------------------------------
def test_names_of_explicit_plugins(tmp_path: Path) -> None:
    class Anonymous:
        @hookimpl
        def jobforge_source_formats(self) -> list[str]:
            return ["anon"]

    this_module = sys.modules[__name__]
    config = PipelineConfig(
        tmp_path,
        plugins=[FlatLayout(tmp_path), Anonymous(), this_module],
        entry_points=False,
    )
    after_bundled = config.plugins.infos[len(manager.BUNDLED_PLUGINS) :]
    assert [(i.name, i.source, i.module) for i in after_bundled] == [
        ("flat", "explicit", __name__),
        ("Anonymous-1", "explicit", __name__),
        (__name__, "explicit", __name__),
    ]


# -- checks when a plugin is registered (here through the testing fixture) ---------------------
class Misspelled:
    @hookimpl
    def jobforge_resolve_layer_pth(self, layer: Layer) -> Path:
        return Path("never")


class Unmarked:
    def jobforge_resolve_layer_path(self, layer: Layer) -> Path:
        return Path("never")


class Wrapper:
    @hookimpl(wrapper=True)
    def jobforge_source_formats(self) -> Iterator[list[str]]:
        result = yield
        return result


class WrongArgument:
    @hookimpl
    def jobforge_resolve_layer_path(self, layer: Layer, bucket: str) -> Path:
        return Path(bucket)


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (
            Misspelled(),
            "plugin 'bad' (explicit) implements unknown hook jobforge_resolve_layer_pth "
            "(did you mean jobforge_resolve_layer_path?)",
        ),
        (
            Unmarked(),
            "plugin 'bad' (explicit) defines jobforge_resolve_layer_path without @hookimpl "
            "(from jobforge import hookimpl), so it would never be called",
        ),
        (
            Wrapper(),
            "plugin 'bad' (explicit) implements jobforge_source_formats as a wrapper, which "
            "jobforge does not call (implementations are called one by one)",
        ),
        (
            WrongArgument(),
            "plugin 'bad' (explicit) is invalid: PluginValidationError: Plugin 'bad' for hook "
            "'jobforge_resolve_layer_path' hookimpl definition: "
            "jobforge_resolve_layer_path(layer: 'Layer', bucket: 'str') -> 'Path' "
            "Argument(s) {'bucket'} are declared in the hookimpl but can not be found in the "
            "hookspec",
        ),
    ],
    ids=["misspelled", "unmarked", "wrapper", "unknown-argument"],
)
def test_a_bad_plugin_is_refused_at_registration(
    jobforge_config: PipelineConfig,
    register_jobforge_plugin: Callable[..., object],
    plugin: object,
    message: str,
) -> None:
    with pytest.raises(PluginError) as caught:
        register_jobforge_plugin(jobforge_config, plugin, "bad")
    assert str(caught.value) == message
    assert not jobforge_config.plugins.pm.is_registered(plugin)
    assert jobforge_config.staged_path() == jobforge_config.data_root / "staged"


def test_the_same_problems_stop_a_config_with_explicit_plugins(tmp_path: Path) -> None:
    with pytest.raises(
        PluginError, match=r"^plugin 'Misspelled-0' \(explicit\) implements unknown"
    ):
        PipelineConfig(tmp_path, plugins=[Misspelled()]).plugins  # noqa: B018
    listing = build_host(PipelineConfig(tmp_path, plugins=[Misspelled()]), strict=False)
    assert [(i.name, i.status) for i in listing.infos][-1] == ("Misspelled-0", "error")


# -- calling: arguments by name, spec defaults ---------------------------------------
class FutureSpecs:
    @hookspec
    def jobforge_future(self, config: PipelineConfig, detail: str = "spec default") -> str:
        """A hook whose ``detail`` argument a later release added, with a default."""


def test_arguments_are_passed_by_name_with_spec_defaults(tmp_path: Path) -> None:
    class OnlyConfig:
        @hookimpl
        def jobforge_future(self, config: PipelineConfig) -> str:
            return f"config {config.data_root.name}"

    class OnlyDetail:
        @hookimpl
        def jobforge_future(self, detail: str) -> str:
            return f"detail {detail}"

    class KeywordDetail:
        @hookimpl
        def jobforge_future(self, detail: str = "impl default") -> str:
            return f"keyword {detail}"

    config = isolated_config(tmp_path / "root")
    host = config.plugins
    host.pm.add_hookspecs(FutureSpecs)
    for plugin in (OnlyConfig(), OnlyDetail(), KeywordDetail()):
        host.register(plugin)
    called = host._call_each("jobforge_future", {"config": config})
    assert [result for _, result in called] == [
        "keyword spec default",
        "detail spec default",
        "config root",
    ]
    called = host._call_each("jobforge_future", {"config": config, "detail": "given"})
    assert [result for _, result in called] == ["keyword given", "detail given", "config root"]


# -- enrichment: merged in call order and validated -----------------------------------
def _ingest_codes(config: PipelineConfig, tmp_path: Path) -> dict:
    source = tmp_path / "codes.csv"
    source.write_text(CSV, encoding="utf-8")
    PipelineEngine(config).ingest(source, "codes", "noc")
    path = config.catalog_tables_path() / "staged" / "codes.json"
    return json.loads(path.read_text("utf-8"))


def test_enrichment_updates_merge_in_call_order(
    jobforge_config: PipelineConfig,
    register_jobforge_plugin: Callable[..., object],
    tmp_path: Path,
) -> None:
    seen: dict[str, str] = {}

    class First:  # registered first: called after Second
        @hookimpl
        def jobforge_enrich_table_metadata(self, metadata: TableMetadata) -> dict[str, str]:
            seen["first saw"] = metadata.description
            return {"description": "from first"}

    class Second:
        @hookimpl
        def jobforge_enrich_table_metadata(self, metadata: TableMetadata) -> dict[str, str]:
            seen["second saw"] = metadata.description
            return {"description": "from second", "data_owner": "second"}

    register_jobforge_plugin(jobforge_config, First(), "first")
    register_jobforge_plugin(jobforge_config, Second(), "second")
    assert jobforge_config.plugins.implementations("jobforge_enrich_table_metadata") == [
        "second",
        "first",
        "catalog-json",
    ]
    entry = _ingest_codes(jobforge_config, tmp_path)
    assert seen == {"second saw": "", "first saw": "from second"}
    assert (entry["description"], entry["data_owner"]) == ("from first", "second")


def test_a_plugin_changes_metadata_only_through_its_updates(
    jobforge_config: PipelineConfig,
    register_jobforge_plugin: Callable[..., object],
    tmp_path: Path,
) -> None:
    class Sneaky:
        @hookimpl
        def jobforge_enrich_table_metadata(self, metadata: TableMetadata) -> None:
            metadata.description = "changed in place"

    register_jobforge_plugin(jobforge_config, Sneaky(), "sneaky")
    entry = _ingest_codes(jobforge_config, tmp_path)
    assert entry["description"] == (
        "codes in the staged layer (domain noc); no description was declared."
    )


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            {"colour": "blue"},
            "plugin 'odd' (explicit) set unknown field 'colour' in "
            "jobforge_enrich_column_metadata; expected one of name, data_type, nullable, "
            "description, glossary_term_id, source_columns, lineage_kind, lineage_expression, "
            "pii_classification, pii_origin, pii_sources, example_values",
        ),
        (
            ["pii_classification"],
            "plugin 'odd' (explicit) returned list from jobforge_enrich_column_metadata; "
            "expected a mapping of field updates or None",
        ),
        (
            {"pii_classification": "secret"},
            "plugin 'odd' (explicit) returned an invalid value from "
            "jobforge_enrich_column_metadata: pii_classification: Input should be 'none', "
            "'quasi_identifier', 'direct_identifier' or 'sensitive'",
        ),
    ],
    ids=["unknown-field", "not-a-mapping", "invalid-value"],
)
def test_bad_column_enrichment_names_the_plugin_and_field(
    jobforge_config: PipelineConfig,
    register_jobforge_plugin: Callable[..., object],
    tmp_path: Path,
    returned: object,
    message: str,
) -> None:
    class Odd:
        @hookimpl
        def jobforge_enrich_column_metadata(self) -> object:
            return returned

    register_jobforge_plugin(jobforge_config, Odd(), "odd")
    with pytest.raises(Exception) as caught:
        _ingest_codes(jobforge_config, tmp_path)
    cause = caught.value.__cause__
    assert isinstance(cause, PluginError)
    assert str(cause) == message


def test_the_listing_tests_name_the_bundled_plugins_in_order() -> None:
    from .bundled import BUNDLED

    assert [name for name, _ in manager.BUNDLED_PLUGINS] == BUNDLED
