"""structlog set-up, done by the caller (the CLI, a test, an application), never at import.

The engine logs through ``structlog.get_logger("jobforge")``; until someone
calls :func:`configure_logging`, structlog's defaults apply.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure_logging(
    *, json: bool = True, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Send jobforge's events to ``stream`` (stderr) as JSON lines (or console text)."""
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
