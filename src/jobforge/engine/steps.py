"""Declarative layer steps: what bronze, silver and gold do, independent of the
engine that runs them.

These are the contracts a user declares (in Python or in ``jobforge.toml``);
an :class:`~jobforge.engine.executor.Executor` turns them into work.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jobforge.errors import ConfigError
from jobforge.storage.names import validate_name

CAST_TYPES: tuple[str, ...] = ("string", "int", "float", "bool", "date", "datetime")
"""Types a bronze cast accepts."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CastSpec(_Spec):
    """How to cast one text column.

    ``format``: for ``date``/``datetime`` a strftime format (default ISO); for
    numbers, ``thousands`` and ``decimal`` say which separators the text uses.
    For ``bool``, ``true_values``/``false_values`` (case-insensitive).
    Leading and trailing spaces are removed before casting; an empty cell
    becomes null; any other value that does not parse sends its row to
    quarantine.
    """

    type: str
    format: str | None = None
    thousands: str | None = None
    decimal: str = "."
    null_values: tuple[str, ...] = ()
    """Texts that mean "no value" (``"N/A"``, ``"x"``...): they become null, not a rejection."""
    true_values: tuple[str, ...] = ("true", "t", "yes", "y", "1")
    false_values: tuple[str, ...] = ("false", "f", "no", "n", "0")

    @model_validator(mode="before")
    @classmethod
    def _from_type_name(cls, data: Any) -> Any:
        # ``level = "int"`` is short for ``level = { type = "int" }``.
        if isinstance(data, str):
            _check_type(data)
            return {"type": data}
        return data

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return _check_type(value)


def _check_type(value: str) -> str:
    if value not in CAST_TYPES:
        raise ValueError(f'unknown type "{value}"; expected one of {", ".join(CAST_TYPES)}')
    return value


class BronzeSchema(_Spec):
    """Bronze: rename, cast, standardise. Nothing else."""

    rename: dict[str, str] = Field(default_factory=dict)
    """Source column name -> bronze name."""
    cast: dict[str, CastSpec] = Field(default_factory=dict)
    """Bronze column name (after renames) -> cast."""
    required: list[str] = Field(default_factory=list)
    """Source columns that must be present (a missing one fails the transition)."""
    on_new_column: Literal["keep", "fail"] = "keep"
    """A source column not named in ``rename``, ``cast`` or ``required``: keep it,
    or fail the transition."""
    snake_case: bool = False
    """Convert every bronze column name to snake_case (after renames)."""

    def declared_source_columns(self) -> set[str]:
        reverse = {target: source for source, target in self.rename.items()}
        return set(self.rename) | set(self.required) | {reverse.get(c, c) for c in self.cast}

    def column_names(self, columns: list[str]) -> dict[str, str]:
        """Source column -> its bronze name (renames, then ``snake_case``), in order."""
        final = {c: self.rename.get(c, c) for c in columns}
        if self.snake_case:
            final = {c: snake_case(n) for c, n in final.items()}
        return final

    def column_types(self, columns: dict[str, str]) -> dict[str, str]:
        """Bronze column -> its type (a cast type name), from the source columns'
        types (text formats: ``string``)."""
        names = self.column_names(list(columns))
        return {
            names[c]: (self.cast[names[c]].type if names[c] in self.cast else kind)
            for c, kind in columns.items()
        }


def snake_case(name: str) -> str:
    """``"Code - NOC 2021 V1.0"`` -> ``"code_noc_2021_v1_0"``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    name = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    return name or "column"


class Rule(_Spec):
    """A silver validation rule: a SQL boolean expression every row must satisfy.

    A row fails when the expression is false; a null result passes (as SQL
    ``CHECK`` constraints do: write ``x IS NOT NULL AND ...`` to require a value).
    ``error``: the row goes to quarantine. ``warn``: the row stays and is counted.
    """

    id: str
    expression: str
    message: str = ""
    severity: Literal["error", "warn"] = "error"

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return validate_name(value, "rule id")


Transform = Callable[..., Any]


def load_callable(reference: str) -> Callable[..., Any]:
    """Import ``"package.module:function"``."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not _IDENT.match(module_name) or not _IDENT.match(attr):
        raise ConfigError(f'{reference!r}: expected "module:function"')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{reference!r}: cannot import {module_name} ({exc})") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"{reference!r}: {module_name} has no attribute {attr}")
    if not callable(target):
        raise ConfigError(f"{reference!r}: is not callable")
    function: Callable[..., Any] = target
    return function


def transform_name(transform: Transform | str) -> str:
    """How a transform is recorded in lineage: ``module:qualname``."""
    if isinstance(transform, str):
        return transform
    module = getattr(transform, "__module__", "?")
    name = getattr(transform, "__qualname__", getattr(transform, "__name__", repr(transform)))
    return f"{module}:{name}"


class SilverSpec(BaseModel):
    """Silver: de-duplicate, validate, transform."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    dedupe: Literal["none", "row"] | list[str] = "row"
    """``row``: identical data columns; a list: these key columns; ``none``."""
    rules: list[Rule] = Field(default_factory=list)
    transforms: list[Any] = Field(default_factory=list)
    """Functions ``LazyFrame -> LazyFrame`` (or ``"module:function"``), applied
    after validation and de-duplication, in order."""

    @field_validator("dedupe", mode="before")
    @classmethod
    def _dedupe(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("none", "row"):
            raise ValueError(f'got {value!r}; expected "row", "none" or a list of key columns')
        if not isinstance(value, str | list):
            raise ValueError('expected "row", "none" or a list of key columns')
        return value

    @field_validator("transforms")
    @classmethod
    def _references(cls, value: list[Any]) -> list[Any]:
        for ref in value:
            check_reference(ref)
        return value

    @model_validator(mode="after")
    def _unique_rules(self) -> SilverSpec:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rules: duplicate rule id(s) {', '.join(dupes)}")
        return self

    def resolved_transforms(self) -> list[Transform]:
        return [load_callable(t) if isinstance(t, str) else t for t in self.transforms]


def check_reference(ref: Any) -> None:
    """Refuse what is neither a callable nor a ``"module:function"`` string."""
    if isinstance(ref, str):
        module, sep, attr = ref.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f'{ref!r}: expected "module:function"')
    elif not callable(ref):
        raise ValueError(f'{ref!r}: expected a function or "module:function"')


class GoldStep(BaseModel):
    """What a gold table is built from: its inputs and exactly one of ``sql``
    (DuckDB SQL; each input is a view named after its table, with a
    ``_lineage`` column) or ``function`` (``"module:function"`` or a callable
    taking ``{name: LazyFrame}`` and returning a LazyFrame).

    One model for both doors: the engine's :class:`GoldSpec` and the
    ``jobforge.toml`` gold section (:class:`jobforge.project.model.GoldTable`)
    are this, with what each adds, so they check the same things the same way.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    inputs: list[str]
    sql: str | None = None
    function: Any = None
    domain: str = ""

    input_label: ClassVar[str] = "table name"
    """How a bad input name is called in the error (the project file says more)."""

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a gold table needs at least one input")
        return [validate_name(v, cls.input_label) for v in value]

    @field_validator("function")
    @classmethod
    def _function(cls, value: Any) -> Any:
        if value is not None:
            check_reference(value)
        return value

    @model_validator(mode="after")
    def _one_body(self) -> GoldStep:
        if (self.sql is None) == (self.function is None):
            raise ValueError("give exactly one of sql or function")
        return self

    def step_fields(self) -> dict[str, Any]:
        """The :class:`GoldStep` fields of this model, as they are."""
        return {name: getattr(self, name) for name in GoldStep.model_fields}


class GoldSpec(GoldStep):
    """A gold table built from silver (or other gold) tables (see :class:`GoldStep`),
    named, with the description its catalog entry gets without a declaration."""

    name: str
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_name(value)

    def resolved_function(self) -> Callable[..., Any]:
        fn = self.function
        return load_callable(fn) if isinstance(fn, str) else fn

    @property
    def transform_label(self) -> str:
        return "sql" if self.sql is not None else transform_name(self.function)
