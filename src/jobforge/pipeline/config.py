"""The medallion layers and the configuration every pipeline run starts from.

Where a layer lives on disk is a policy, so :class:`PipelineConfig` does not
decide it: every path method asks the plugin manager
(``jobforge_resolve_layer_path`` and friends), and the bundled DAMA layout
plugin answers last, so an installed plugin can move any layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobforge.catalog.store import CatalogStore
    from jobforge.hooks.host import PluginHost
    from jobforge.storage.objects import ObjectRoot
    from jobforge.storage.store import TableStore

DATA_ROOT_ENV = "JOBFORGE_DATA_ROOT"
STORAGE_FORMATS: tuple[str, ...] = ("parquet", "delta")
"""How tables are kept: ``parquet`` (the bundled store) or ``delta`` (Delta
Lake tables, plugin ``delta-store``, extra ``jobforge[delta]``)."""
DEFAULT_DATA_ROOT = Path("data")
DEFAULT_EXECUTOR = "polars"
"""The executor a config names when it names none (``[engine] executor``)."""


class Layer(StrEnum):
    """The four medallion layers, in the order data moves through them."""

    STAGED = "staged"
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"

    @property
    def position(self) -> int:
        """0 for staged up to 3 for gold."""
        return list(Layer).index(self)

    def next(self) -> Layer | None:
        """The layer data is promoted to from this one, or ``None`` after gold."""
        members = list(Layer)
        index = members.index(self)
        return members[index + 1] if index + 1 < len(members) else None

    def previous(self) -> Layer | None:
        """The layer this one is fed from, or ``None`` for staged."""
        members = list(Layer)
        index = members.index(self)
        return members[index - 1] if index > 0 else None


class PipelineConfig:
    """Where the data lives and which plugins a run uses.

    ``data_root`` defaults to ``$JOBFORGE_DATA_ROOT`` or ``data``; it is
    checked here (:func:`jobforge.storage.roots.check_data_root`: not ``/``, not
    a system folder, not a file, no NUL), so a config that exists has a data
    root jobforge may write. ``plugins``
    are plugin objects (modules or instances) registered after the bundled and
    installed ones, so they win. ``disable_plugins`` and ``load_plugins`` add
    to ``$JOBFORGE_DISABLE_PLUGINS`` / ``$JOBFORGE_LOAD_PLUGINS``.

    ``signing_key`` is the path of an ed25519 private key that signs every
    lineage record (see docs/audit.md).

    ``plugin_settings`` maps a plugin's name to its settings (a mapping of
    plain values, such as a ``jobforge.toml`` section holds); a plugin reads
    its own with :meth:`settings_for` when a hook is called. jobforge itself
    never reads them.

    ``executor`` names the executor that runs the layer steps (default
    ``polars``): the plugin whose executor has that name answers
    ``jobforge_executor``.

    ``storage_format`` (one of :data:`STORAGE_FORMATS`, ``[storage] format``)
    says which table store keeps the versions: each store plugin answers
    ``jobforge_table_store`` only for its own format.

    A ``data_root`` of ``s3://bucket/prefix`` keeps the tables and the catalog
    in that bucket (:attr:`object_root`; it needs ``storage_format="delta"``),
    reached with ``storage_options`` (``[storage.options]``: ``endpoint``,
    ``region``, ``allow_http`` and credentials; the ``AWS_*`` variables fill in
    the rest). :attr:`data_root` is then the local state folder ``state_dir``
    (default ``.jobforge/<bucket>/<prefix>``): locks, the journal, scratch files
    and a read cache of the immutable data files, laid out as in the bucket.
    With a local ``data_root`` those live in the data root itself, and a
    ``state_dir`` (or ``storage_options``) is refused.

    The plugin manager is built on first use and belongs to this object: two
    configs never share one.
    """

    def __init__(
        self,
        data_root: str | os.PathLike[str] | None = None,
        *,
        plugins: Sequence[object] = (),
        disable_plugins: Iterable[str] = (),
        load_plugins: Iterable[str] | None = None,
        entry_points: bool = True,
        plugin_settings: Mapping[str, Mapping[str, Any]] | None = None,
        executor: str = DEFAULT_EXECUTOR,
        signing_key: str | os.PathLike[str] | None = None,
        storage_format: str = "parquet",
        storage_options: Mapping[str, Any] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from jobforge.errors import ConfigError
        from jobforge.storage.objects import ObjectRoot, is_object_url
        from jobforge.storage.roots import check_data_root

        if storage_format not in STORAGE_FORMATS:
            raise ConfigError(
                f"storage format {storage_format!r}: expected one of {', '.join(STORAGE_FORMATS)}"
            )
        self.storage_format = storage_format
        root: str | os.PathLike[str] = DEFAULT_DATA_ROOT
        origin = "data root"
        if data_root is not None:
            root, origin = data_root, "data_root"
        elif os.environ.get(DATA_ROOT_ENV):
            root, origin = os.environ[DATA_ROOT_ENV], f"${DATA_ROOT_ENV}"
        self.object_root: ObjectRoot | None = None
        """The bucket and prefix of an ``s3://`` data root (``None``: a local folder)."""
        if isinstance(root, str) and is_object_url(root):
            bucket = ObjectRoot.parse(root, storage_options)
            if storage_format != "delta":
                raise ConfigError(
                    f'{origin} {bucket.url!r}: object storage needs [storage] format = "delta" '
                    f"(the {storage_format} store keeps local folders only)"
                )
            self.object_root = bucket
            local = state_dir or Path(".jobforge", bucket.bucket, *bucket.prefix.split("/"))
            self.data_root = check_data_root(local, "state_dir")
        else:
            if storage_options:
                raise ConfigError(
                    f"[storage.options] {', '.join(storage_options)}: only for an s3:// "
                    f"data_root ({origin} {os.fspath(root)!r} is a local folder)"
                )
            if state_dir is not None:
                # a local data root keeps its locks, journal and scratch files in
                # itself: a second folder given for them would be silently unused
                raise ConfigError(
                    f"state_dir {os.fspath(state_dir)!r}: only for an s3:// data_root "
                    f"({origin} {os.fspath(root)!r} is a local folder, which holds its own "
                    "locks, journal and scratch files)"
                )
            self.data_root = check_data_root(root, origin)
        self.explicit_plugins: tuple[object, ...] = tuple(plugins)
        self.disable_plugins: tuple[str, ...] = tuple(disable_plugins)
        self.load_plugins: tuple[str, ...] | None = (
            None if load_plugins is None else tuple(load_plugins)
        )
        self.entry_points = entry_points
        given = plugin_settings or {}
        self.plugin_settings: Mapping[str, Mapping[str, Any]] = MappingProxyType(
            {name: MappingProxyType(dict(values)) for name, values in given.items()}
        )
        self.executor = executor
        """The name of the executor that runs the layer steps (``[engine] executor``)."""
        self.signing_key: Path | None = None if signing_key is None else Path(signing_key)
        """An ed25519 private key (PEM) that signs every lineage record
        (``[audit] signing_key``; see docs/audit.md). ``None``: records are not signed."""
        self._host: PluginHost | None = None
        self._store: TableStore | None = None
        self._catalog: CatalogStore | None = None
        self._layout: dict[str, Path] = {}
        self._layout_generation = 0
        """The folders the layout plugins resolved, by layer (or ``quarantine``,
        ``catalog``): asked once per config, not once per path a step builds."""

    def __repr__(self) -> str:
        root = self.object_root.url if self.object_root is not None else str(self.data_root)
        return f"PipelineConfig(data_root={root!r})"

    def settings_for(self, plugin: str) -> Mapping[str, Any] | None:
        """The settings given for ``plugin`` (read-only), or ``None`` if none were."""
        return self.plugin_settings.get(plugin)

    @property
    def plugins(self) -> PluginHost:
        """The typed facade over this config's plugin manager (built on first use)."""
        if self._host is None:
            from jobforge.hooks.host import build_host

            self._host = build_host(self)
        return self._host

    @property
    def store(self) -> TableStore:
        """The table store that keeps every table's versions (``jobforge_table_store``;
        built on first use)."""
        if self._store is None:
            self._store = self.plugins.table_store(self)
        return self._store

    @property
    def catalog(self) -> CatalogStore:
        """The catalog store that keeps entries, histories, lineage records, the
        glossary and run records (``jobforge_catalog_store``; built on first use)."""
        if self._catalog is None:
            self._catalog = self.plugins.catalog_store(self)
        return self._catalog

    # -- layers -------------------------------------------------------------
    def layer_path(self, layer: Layer | str) -> Path:
        """The directory of ``layer``, as the layout plugins resolve it."""
        layer = Layer(layer)
        return self._resolved(layer.value, lambda: self.plugins.resolve_layer_path(self, layer))

    def staged_path(self) -> Path:
        return self.layer_path(Layer.STAGED)

    def bronze_path(self) -> Path:
        return self.layer_path(Layer.BRONZE)

    def silver_path(self) -> Path:
        return self.layer_path(Layer.SILVER)

    def gold_path(self) -> Path:
        return self.layer_path(Layer.GOLD)

    def quarantine_path(self) -> Path:
        return self._resolved("quarantine", lambda: self.plugins.resolve_quarantine_path(self))

    # -- catalog ------------------------------------------------------------
    def catalog_path(self) -> Path:
        return self._resolved("catalog", lambda: self.plugins.resolve_catalog_path(self))

    def _resolved(self, key: str, resolve: Callable[[], Path]) -> Path:
        """The folder ``key`` as the layout plugins resolve it, asked once per
        config (and again after a plugin is registered or unregistered)."""
        host = self.plugins
        if self._layout_generation != host.generation:
            self._layout.clear()
            self._layout_generation = host.generation
        found = self._layout.get(key)
        if found is None:
            found = self._layout[key] = resolve()
        return found

    def catalog_tables_path(self) -> Path:
        return self.catalog_path() / "tables"

    def catalog_lineage_path(self) -> Path:
        return self.catalog_path() / "lineage"

    def catalog_glossary_path(self) -> Path:
        return self.catalog_path() / "glossary"

    def catalog_schemas_path(self) -> Path:
        return self.catalog_path() / "schemas"

    def locks_path(self) -> Path:
        """Lock files of running pipelines (not data, not catalog)."""
        return self.data_root / ".locks"

    def data_paths(self) -> list[Path]:
        """The folders of the table store's data: the layers, then quarantine."""
        return [*(self.layer_path(layer) for layer in Layer), self.quarantine_path()]

    def layout_paths(self) -> list[Path]:
        """Every directory of the layout, layers first, then quarantine and catalog."""
        return [
            *self.data_paths(),
            self.catalog_tables_path(),
            self.catalog_lineage_path(),
            self.catalog_glossary_path(),
            self.catalog_schemas_path(),
        ]

    def ensure_layout(self) -> list[Path]:
        """Create the layer and quarantine folders and the folders the catalog
        store keeps its files in (:meth:`CatalogStore.folders`: the JSON store's
        ``catalog/`` folders, none for a store kept elsewhere); idempotent;
        return them.

        Each is checked first as a data root is (a layout plugin may place one
        anywhere): nothing is created if one is ``/``, a system folder or a file.
        """
        from jobforge.storage.roots import check_folder

        self.check_layout()
        paths = [*self.data_paths(), *self.catalog.folders()]
        for path in paths:
            check_folder(path, f"layout folder {str(path)!r}")
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
        return paths

    def check_layout(self) -> list[Path]:
        """Check every folder of the layout as a data root is checked (a layout
        plugin may place one anywhere: not ``/``, not a system folder, not a
        file) and return them; nothing is created."""
        from jobforge.storage.roots import check_folder

        paths = self.layout_paths()
        for path in paths:
            check_folder(path, f"layout folder {str(path)!r}")
        return paths

    def check_write_paths(self) -> None:
        """:meth:`check_layout`, and refuse a symbolic link below a write root on
        the way to a layout folder or the locks folder: what an engine checks
        when it is made, and what a run answered from the up-to-date index
        checks without making one."""
        from jobforge.storage.names import ensure_no_symlinks
        from jobforge.storage.roots import write_roots

        roots = write_roots(self)
        for path in [*self.check_layout(), self.locks_path()]:
            ensure_no_symlinks(roots, path)
