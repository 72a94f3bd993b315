"""The models of ``jobforge.toml``.

Every section forbids unknown keys, so a misspelled key is an error with its
location, not a silently ignored setting. A table's sections are the engine's
own models: ``bronze`` is a :class:`~jobforge.engine.steps.BronzeSchema`,
``silver`` a :class:`~jobforge.engine.steps.SilverSpec`, ``metadata`` the
:class:`~jobforge.catalog.declarations.TableLabels` and ``columns`` the
:class:`~jobforge.catalog.declarations.ColumnDeclaration` of a
:class:`~jobforge.catalog.declarations.TableDeclaration`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from jobforge.catalog.declarations import ColumnDeclaration, TableLabels
from jobforge.engine.steps import BronzeSchema, GoldStep, SilverSpec
from jobforge.storage.names import validate_name
from jobforge.storage.sizes import parse_size


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSection(_Section):
    name: str = "jobforge-project"
    data_root: str = "data"
    """Relative to the project file's folder."""
    mode: Literal["replace", "append"] = "replace"
    lock_timeout_s: float = Field(default=600.0, gt=0)


class PluginsSection(_Section):
    disable: list[str] = Field(default_factory=list)
    load: list[str] | None = None
    """Allow-list of installed plugins (``None``: all installed plugins load)."""
    entry_points: bool = True


class SparkSection(_Section):
    """``[engine.spark]``: where the bundled ``spark`` executor runs.

    ``master`` (``local[2]``, ``yarn``, ``spark://host:7077``) or ``remote``
    (Spark Connect, ``sc://host:15002``), not both; ``conf`` is passed to the
    session as it is (``spark.sql.shuffle.partitions = "8"``). The plugin
    validates the settings it receives with this model too.
    """

    master: str | None = None
    remote: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)
    app_name: str = "jobforge"
    ui: bool = False
    """The Spark UI of a local session (off: it takes a port and a thread)."""

    @model_validator(mode="after")
    def _one_place(self) -> SparkSection:
        if self.master and self.remote:
            raise ValueError("give master or remote, not both")
        return self


class EngineSection(_Section):
    """``[engine]``: which executor runs the layer steps."""

    executor: str = "polars"
    """An executor's name (bundled: ``polars``, ``duckdb``, ``spark``)."""
    jobs: int | None = Field(default=None, ge=1)
    """How many independent tables ``jobforge run`` runs at once (``None``: the
    cores, at most one per GiB of available memory; ``1``: one after the other;
    see :func:`jobforge.project.runner.run_jobs`)."""
    spark: SparkSection | None = None
    """``[engine.spark]``: the spark executor's settings (plugin ``spark``)."""


class TableAuditSection(_Section):
    """``[tables.<name>.audit]`` / ``[gold.<name>.audit]`` (see docs/audit.md)."""

    control_totals: list[str] = Field(default_factory=list)
    """Numeric columns whose sums and non-null counts every transition records
    and reconciles (in = out + quarantined + deduplicated + filtered)."""


class StorageOptions(_Section):
    """``[storage.options]``: how to reach an ``s3://`` data root. What is not
    given here comes from the ``AWS_*`` environment variables
    (:data:`jobforge.storage.objects.OPTION_ENV`). The credentials are secrets:
    never printed, logged or written anywhere jobforge writes."""

    endpoint: str | None = None
    """An S3-compatible server's URL (``http://127.0.0.1:9000``); AWS itself when not set."""
    region: str | None = None
    allow_http: bool | None = None
    """Allow a plain ``http://`` endpoint (a local server)."""
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None

    def given(self) -> dict[str, Any]:
        """The keys set in the file, secrets revealed (for the object store client only)."""
        found: dict[str, Any] = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            if value is not None:
                found[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return found


class StorageSection(_Section):
    """``[storage]``: how tables are kept (``format = "delta"``: Delta Lake tables)."""

    format: Literal["parquet", "delta"] = "parquet"
    options: StorageOptions | None = None
    """``[storage.options]``: only with an ``s3://`` data root."""
    state_dir: str | None = None
    """With an ``s3://`` data root: the local folder for locks, the journal,
    scratch files and the read cache (relative to the project file's folder;
    default ``.jobforge/<bucket>/<prefix>``)."""
    compact_target_size: str | int | None = None
    """The target size of a file ``jobforge maintain`` compacts (``"64MiB"``; default
    128MiB): files below it are merged, each run closed once it reaches it."""

    @field_validator("compact_target_size")
    @classmethod
    def _target_size(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_size(value)
        return value

    def compact_target_bytes(self) -> int | None:
        """``compact_target_size`` in bytes (``None``: not given)."""
        return None if self.compact_target_size is None else parse_size(self.compact_target_size)


class SourceTable(_Section):
    """A table fed from source files."""

    source: str
    """A path or glob, relative to the project file's folder."""
    format: str | None = None
    reader: dict[str, Any] = Field(default_factory=dict)
    domain: str = ""
    metadata: TableLabels = Field(default_factory=TableLabels)
    audit: TableAuditSection = Field(default_factory=TableAuditSection)
    columns: dict[str, ColumnDeclaration] = Field(default_factory=dict)
    bronze: BronzeSchema = Field(default_factory=BronzeSchema)
    silver: SilverSpec = Field(default_factory=SilverSpec)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return validate_name(value, "domain") if value else value

    @model_validator(mode="after")
    def _gold_only(self) -> SourceTable:
        if self.metadata.declassify is not None:
            raise ValueError(
                "metadata.declassify: only a gold table can be declassified (a source "
                "table's metadata applies to all its layers, which inherit from each other)"
            )
        for name, column in self.columns.items():
            if column.sources is not None:
                raise ValueError(
                    f"columns.{name}.from: only for the columns of a gold table built by a "
                    "function (a source table's lineage is known from its declarations)"
                )
        return self


class GoldTable(GoldStep):
    """A table built from silver or gold tables: the engine's :class:`GoldStep`
    (inputs, sql or function, domain) and what the catalog is told about it."""

    input_label: ClassVar[str] = "input table name"

    metadata: TableLabels = Field(default_factory=TableLabels)
    audit: TableAuditSection = Field(default_factory=TableAuditSection)
    columns: dict[str, ColumnDeclaration] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _columns_from(self) -> GoldTable:
        if self.sql is not None:
            for name, column in self.columns.items():
                if column.sources is not None:
                    raise ValueError(
                        f"columns.{name}.from: only for a gold table built by a function "
                        "(the lineage of SQL is read from the SQL)"
                    )
        return self


class OpenLineageSection(_Section):
    """``[openlineage]``: where the bundled ``openlineage`` plugin sends its events.

    No section, no events. The plugin validates the settings it receives with
    this model too, so a library user's ``PipelineConfig(plugin_settings=...)``
    is checked the same way.
    """

    transport: Literal["file", "http", "console"]
    url: str | None = None
    """``http``: the receiver's base URL (``http://localhost:5000``)."""
    endpoint: str = "api/v1/lineage"
    """``http``: the path below ``url`` events are posted to."""
    path: str | None = None
    """``file``: the file events are appended to, one JSON document a line
    (relative to the project file's folder)."""
    api_key_env: str | None = None
    """``http``: the environment variable that holds the API key (sent as
    ``Authorization: Bearer <key>``); the key itself never goes in the file."""
    namespace: str = ""
    """The OpenLineage namespace of the jobs (default: the project's name)."""
    timeout_s: float = Field(default=5.0, gt=0)
    """``http``: seconds to wait for the receiver."""
    on_error: Literal["warn", "fail"] = "warn"
    """An event that cannot be sent: log a warning and go on, or fail the step."""

    @model_validator(mode="after")
    def _transport_settings(self) -> OpenLineageSection:
        if self.transport == "http" and not self.url:
            raise ValueError('url: required when transport = "http"')
        if self.transport == "file" and not self.path:
            raise ValueError('path: required when transport = "file"')
        if self.url and self.transport != "http":
            raise ValueError(f'url: only used with transport = "http" (got "{self.transport}")')
        if self.path and self.transport != "file":
            raise ValueError(f'path: only used with transport = "file" (got "{self.transport}")')
        return self


class AuditSection(_Section):
    """``[audit]``: signing lineage records (see docs/audit.md)."""

    signing_key: str | None = None
    """An ed25519 private key (PEM) that signs every lineage record, relative to
    the project file's folder. No key: records are chained but not signed."""
    public_key: str | None = None
    """The matching public key (PEM) ``jobforge verify`` checks signatures with
    (``--public-key`` wins); an auditor keeps their own copy."""


class GlossaryEntry(_Section):
    name: str
    definition: str
    owner: str = ""
    related_terms: list[str] = Field(default_factory=list)


class ProjectFile(_Section):
    """The whole ``jobforge.toml``."""

    project: ProjectSection = Field(default_factory=ProjectSection)
    plugins: PluginsSection = Field(default_factory=PluginsSection)
    engine: EngineSection = Field(default_factory=EngineSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    openlineage: OpenLineageSection | None = None
    audit: AuditSection = Field(default_factory=AuditSection)
    glossary: dict[str, GlossaryEntry] = Field(default_factory=dict)
    tables: dict[str, SourceTable] = Field(default_factory=dict)
    gold: dict[str, GoldTable] = Field(default_factory=dict)


class Project:
    """A validated project: the file's content and where it lives."""

    def __init__(self, path: Path, spec: ProjectFile, order: list[str]) -> None:
        self.path = path
        self.root = path.parent
        self.spec = spec
        self.order = order
        """Every table name, sources first, then gold in dependency order."""

    @property
    def data_root(self) -> Path:
        return self.root / self.spec.project.data_root

    def is_gold(self, name: str) -> bool:
        return name in self.spec.gold
