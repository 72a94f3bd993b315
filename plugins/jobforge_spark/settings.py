"""The ``[engine.spark]`` settings, checked with the project file's own model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from jobforge.plugin import ConfigError, SparkSection


def spark_settings(values: Mapping[str, Any] | None) -> SparkSection:
    """``values`` (``[engine.spark]``) as a :class:`SparkSection`; a one-line
    :class:`ConfigError` naming the key otherwise."""
    try:
        return SparkSection.model_validate(dict(values or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        key = f"engine.spark.{where}" if where else "engine.spark"
        raise ConfigError(f"{key}: {first['msg']}") from None
