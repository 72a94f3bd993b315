"""Timestamps in records: timezone-aware and stored in UTC.

A neutral module: the records (:mod:`jobforge.pipeline.models`), the version
pointers (:mod:`jobforge.storage.versions`) and the catalog use it without
importing one another.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, stored in UTC."""
