"""Building a plugin manager: bundled plugins, then installed entry points, then
explicit plugins.

There is no global manager. :func:`build_plugin_manager` makes a new one for
each :class:`~jobforge.pipeline.config.PipelineConfig` (so for each run and
each test). Disabled plugins are blocked *before* they are imported.

Every plugin is checked when it is registered, so that mistakes surface at
start and name the plugin: an implementation of an unknown (misspelled) hook,
a ``jobforge_*`` function without ``@hookimpl``, a wrapper implementation
(jobforge calls implementations one by one, see :mod:`jobforge.hooks.host`),
or a plugin name already taken.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Literal

import pluggy

from jobforge.errors import NoPluginError, PluginError
from jobforge.hooks import specs
from jobforge.hooks.markers import ENTRY_POINT_GROUP, PROJECT_NAME

DISABLE_ENV = "JOBFORGE_DISABLE_PLUGINS"
LOAD_ENV = "JOBFORGE_LOAD_PLUGINS"
HOOK_PREFIX = "jobforge_"

BUNDLED_PLUGINS: tuple[tuple[str, str], ...] = (
    ("dama", "jobforge_dama"),
    ("readers", "jobforge_readers"),
    ("polars", "jobforge_polars"),
    ("catalog-json", "jobforge_catalog_json"),
    ("parquet-store", "jobforge_parquet_store"),
    ("delta-store", "jobforge_delta"),
    ("openlineage", "jobforge_openlineage"),
    ("duckdb", "jobforge_duckdb"),
    ("spark", "jobforge_spark"),
)
"""(name, module) of the plugins shipped in jobforge's ``plugins/`` folder."""

REQUIRED_HOOKS: tuple[str, ...] = (
    "jobforge_table_store",
    "jobforge_catalog_store",
    "jobforge_resolve_layer_path",
    "jobforge_resolve_quarantine_path",
    "jobforge_resolve_catalog_path",
    "jobforge_executor",
)
"""Hooks a pipeline run cannot do without (the bundled plugins answer them)."""

PluginSource = Literal["bundled", "entry point", "explicit"]
PluginStatus = Literal["loaded", "disabled", "error"]


@dataclass
class PluginInfo:
    """What the manager knows of one plugin, loaded or not."""

    name: str
    source: PluginSource
    module: str
    distribution: str | None = None
    version: str | None = None
    status: PluginStatus = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """``'name' (distribution version)`` for error messages."""
        dist = f"{self.distribution} {self.version}" if self.distribution else self.source
        return f"{self.name!r} ({dist})"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": list(self.hooks),
        }


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (pluggy's validation messages span several)."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _split_names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def disabled_names(extra: Iterable[str] = ()) -> set[str]:
    """Plugin names disabled by ``$JOBFORGE_DISABLE_PLUGINS`` and ``extra``."""
    return set(_split_names(os.environ.get(DISABLE_ENV))) | set(extra)


def allowed_names(extra: Iterable[str] | None = None) -> set[str] | None:
    """The allow-list of installed plugins, or ``None`` when every one may load.

    ``$JOBFORGE_LOAD_PLUGINS`` set to an empty string loads no installed plugin.
    """
    env = os.environ.get(LOAD_ENV)
    if env is None and extra is None:
        return None
    return set(_split_names(env)) | set(extra or ())


def installed_entry_points() -> list[metadata.EntryPoint]:
    """Entry points of group ``jobforge``, de-duplicated and sorted by name.

    A venv whose ``lib64`` links to ``lib`` lists a distribution twice: an
    entry point with the same name, target and distribution as one already
    seen is dropped. Two *different* entry points with one name both stay, and
    the manager reports the clash.
    """
    seen: dict[tuple[str, str, str | None], metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        seen.setdefault((ep.name, ep.value, dist), ep)
    return [seen[key] for key in sorted(seen, key=lambda k: (k[0], k[1], k[2] or ""))]


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])


def spec_names(pm: pluggy.PluginManager) -> list[str]:
    """The names of the hooks jobforge specifies (not the unknown ones plugins tried)."""
    return sorted(
        name
        for name, caller in vars(pm.hook).items()
        if name.startswith(HOOK_PREFIX) and caller.has_spec()
    )


def _problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What is wrong with a just-registered plugin (empty when it is fine)."""
    known = spec_names(pm)
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        impls = [i for i in caller.get_hookimpls() if i.plugin is plugin]
        if not caller.has_spec() and any(not i.optionalhook for i in impls):
            close = difflib.get_close_matches(caller.name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"implements unknown hook {caller.name}{hint}")
        if any(i.wrapper or i.hookwrapper for i in impls):
            problems.append(
                f"implements {caller.name} as a wrapper, which jobforge does not call "
                "(implementations are called one by one)"
            )
    for attr in dir(plugin):
        if not attr.startswith(HOOK_PREFIX):
            continue
        value = inspect.getattr_static(plugin, attr, None)
        if callable(value) and pm.parse_hookimpl_opts(plugin, attr) is None:
            problems.append(
                f"defines {attr} without @hookimpl (from jobforge import hookimpl), "
                "so it would never be called"
            )
    return problems


class LoadedManager:
    """A pluggy manager and the :class:`PluginInfo` of every plugin it considered."""

    def __init__(self, pm: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
        self.pm = pm
        self.infos = infos

    def info_for(self, plugin: object) -> PluginInfo | None:
        name = self.pm.get_name(plugin)
        return next((i for i in self.infos if i.name == name and i.status == "loaded"), None)

    def add(self, info: PluginInfo, plugin: object) -> None:
        """Register ``plugin`` under ``info.name`` and check it.

        On a problem the plugin is left unregistered, ``info`` records the
        error, and a :class:`~jobforge.errors.PluginError` naming the plugin is
        raised.
        """
        clash = self.pm.get_plugin(info.name)
        try:
            if self.pm.is_blocked(info.name):
                raise PluginError(f"plugin {info.describe()} is disabled")
            if clash is not None:
                other = self.info_for(clash)
                owner = other.describe() if other else repr(info.name)
                raise PluginError(
                    f"plugin {info.describe()}: the name {info.name!r} is already used by "
                    f"{owner}; plugin names must be unique"
                )
            if self.pm.is_registered(plugin):
                raise PluginError(
                    f"plugin {info.describe()} is already registered as "
                    f"{self.pm.get_name(plugin)!r}"
                )
            try:
                self.pm.register(plugin, name=info.name)
            except Exception as exc:  # pluggy's validation names the hook
                raise PluginError(f"plugin {info.describe()} is invalid: {one_line(exc)}") from exc
            problems = _problems(self.pm, plugin)
            if problems:
                self.pm.unregister(plugin)
                raise PluginError(f"plugin {info.describe()} {'; '.join(problems)}")
        except PluginError as exc:
            info.status = "error"
            info.error = str(exc)
            raise
        else:
            info.hooks = _hook_names(self.pm, plugin)
        finally:
            self.infos.append(info)

    def remove(self, plugin: object) -> None:
        """Unregister ``plugin`` and forget its :class:`PluginInfo`."""
        info = self.info_for(plugin)
        self.pm.unregister(plugin)
        if info is not None:
            self.infos.remove(info)

    def no_plugin_message(self, hook_name: str) -> str:
        """``no plugin provides <hook>``, with the disabled plugins as a hint."""
        off = sorted(i.name for i in self.infos if i.status == "disabled")
        hint = f" (disabled plugins: {', '.join(off)})" if off else ""
        return f"no plugin provides {hook_name}{hint}"

    def missing_hooks(self) -> list[str]:
        """The :data:`REQUIRED_HOOKS` that no registered plugin implements."""
        return [
            name
            for name in REQUIRED_HOOKS
            if not any(
                not (i.wrapper or i.hookwrapper)
                for i in getattr(self.pm.hook, name).get_hookimpls()
            )
        ]


def build_plugin_manager(
    *,
    explicit: Iterable[object] = (),
    disable: Iterable[str] = (),
    load: Iterable[str] | None = None,
    entry_points: bool = True,
    strict: bool = True,
) -> LoadedManager:
    """Build a new manager.

    ``strict`` (pipeline runs): a plugin that fails to import or to register
    raises :class:`~jobforge.errors.PluginError`, and a required hook nobody
    implements raises :class:`~jobforge.errors.NoPluginError`. Not strict
    (``jobforge plugins``): the failure is recorded in the plugin's
    :class:`PluginInfo` and loading goes on.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(specs)
    blocked = disabled_names(disable)
    allowed = allowed_names(load)
    loaded = LoadedManager(pm, [])

    def add(info: PluginInfo, plugin: object) -> None:
        try:
            loaded.add(info, plugin)
        except PluginError:
            if strict:
                raise

    def load_failed(info: PluginInfo, exc: BaseException) -> None:
        info.status = "error"
        info.error = f"failed to load from {info.module}: {one_line(exc)}"
        loaded.infos.append(info)
        if strict:
            raise PluginError(f"plugin {info.describe()} {info.error}") from exc

    def disabled(info: PluginInfo) -> None:
        info.status = "disabled"
        loaded.infos.append(info)
        if pm.get_plugin(info.name) is None and not pm.is_blocked(info.name):
            pm.set_blocked(info.name)

    from jobforge import __version__

    for name, module in BUNDLED_PLUGINS:
        info = PluginInfo(name, "bundled", module, "jobforge", __version__)
        if name in blocked:
            disabled(info)
            continue
        try:
            plugin: object = importlib.import_module(module)
        except Exception as exc:
            load_failed(info, exc)
            continue
        add(info, plugin)

    if entry_points:
        for ep in installed_entry_points():
            dist = ep.dist
            info = PluginInfo(
                ep.name,
                "entry point",
                ep.value,
                dist.name if dist else None,
                dist.version if dist else None,
            )
            if ep.name in blocked or (allowed is not None and ep.name not in allowed):
                disabled(info)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                load_failed(info, exc)
                continue
            add(info, plugin)

    for index, plugin in enumerate(explicit):
        info = PluginInfo(explicit_name(plugin, index), "explicit", module_of(plugin))
        if info.name in blocked:
            disabled(info)
            continue
        add(info, plugin)

    try:
        pm.check_pending()  # every plugin was checked on registration; this is the backstop
    except pluggy.PluginValidationError as exc:
        owner = loaded.info_for(exc.plugin)
        label = owner.describe() if owner else repr(exc.plugin)
        raise PluginError(f"plugin {label} is invalid: {one_line(exc)}") from exc
    if strict:
        missing = loaded.missing_hooks()
        if missing:
            raise NoPluginError(loaded.no_plugin_message(missing[0]))
    return loaded


def explicit_name(plugin: object, index: int = 0) -> str:
    """The name of a plugin passed in Python: its ``jobforge_plugin_name``
    attribute, else a module's or class's ``__name__``, else ``<Type>-<index>``."""
    name = getattr(plugin, "jobforge_plugin_name", None) or getattr(plugin, "__name__", None)
    return str(name) if name else f"{type(plugin).__name__}-{index}"


def module_of(plugin: object) -> str:
    """The module a plugin object comes from (for ``jobforge plugins``)."""
    if inspect.ismodule(plugin):
        return plugin.__name__
    return getattr(plugin, "__module__", None) or type(plugin).__module__
