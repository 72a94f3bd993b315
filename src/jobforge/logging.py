"""jobforge's log events, through the standard :mod:`logging` module.

The engine logs structured events (``ingest.done``, ``transition.failed``...)
with :func:`get_logger`. Each becomes a :class:`logging.LogRecord` of the
logger named ``jobforge``, at the event's level:

- its message is the event and its fields as text
  (``ingest.done table=noc rows=516 ...``), for any handler;
- its ``jobforge`` attribute holds the fields as a dict (``event``, ``level``
  and the event's own), for handlers that want them structured.

The ``jobforge`` logger has a :class:`logging.NullHandler`, so a library user
sees nothing until the application configures logging
(``logging.basicConfig(level=logging.INFO)``, or :func:`configure_logging`
for jobforge's JSON or console lines). Nothing is written to stdout, and the
application's own structlog configuration, if any, is left alone.

Events carry names, counts, ids and error types, never row values or error
messages (a database's message may quote a value): the message of a failure is
in its exception and in its lineage record.

structlog is imported only when an event is emitted at a level the ``jobforge``
logger lets through, or when a handler formats one (importing it costs about
0.2 s, most of it structlog's development renderer and rich): a run that logs
nothing at the command line's default level (``warning``) never imports it.
"""

from __future__ import annotations

import json as _json
import logging
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    import structlog

LOGGER_NAME = "jobforge"

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def _as_record(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> tuple[Any, ...]:
    """The last processor: the positional and keyword arguments of the
    standard logger's call (the text message, the fields in ``extra``)."""
    kwargs: dict[str, Any] = {
        key: event_dict.pop(key) for key in ("exc_info", "stack_info") if key in event_dict
    }
    fields = {k: v for k, v in event_dict.items() if k != "level"}
    text = " ".join(
        [str(fields.pop("event", "")), *(f"{k}={_value(v)}" for k, v in fields.items())]
    )
    kwargs["extra"] = {LOGGER_NAME: event_dict}
    return (text,), kwargs


def _value(value: Any) -> str:
    """A field's value in the text message: bare when unambiguous, else JSON."""
    if isinstance(value, bool | int | float) or value is None:
        return _json.dumps(value)
    text = value if isinstance(value, str) else str(value)
    if text and not any(c.isspace() or c in "\"'=" for c in text):
        return text
    return _json.dumps(text, ensure_ascii=False)


def _bound_logger() -> structlog.stdlib.BoundLogger:
    """The structlog logger that emits jobforge's events (imports structlog)."""
    import structlog

    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(LOGGER_NAME),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _as_record,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    return logger


class _LazyLogger:
    """Stands for the structlog logger of :func:`_bound_logger` until an event
    passes the ``jobforge`` logger's level: an event below it returns at once
    (structlog's ``filter_by_level``, the first processor, would drop it, so
    nothing else can differ); anything else is the structlog logger's."""

    _LEVELS = {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warning": logging.WARNING,
        "warn": logging.WARNING,
        "error": logging.ERROR,
        "exception": logging.ERROR,
        "critical": logging.CRITICAL,
        "fatal": logging.CRITICAL,
    }

    def __init__(self) -> None:
        self._logger: structlog.stdlib.BoundLogger | None = None

    def _real(self) -> structlog.stdlib.BoundLogger:
        if self._logger is None:
            self._logger = _bound_logger()
        return self._logger

    def __getattr__(self, name: str) -> Any:
        level = self._LEVELS.get(name)
        if level is not None and not logging.getLogger(LOGGER_NAME).isEnabledFor(level):
            return _dropped
        return getattr(self._real(), name)


def _dropped(*_args: Any, **_kwargs: Any) -> None:
    """An event below the ``jobforge`` logger's level."""


def get_logger() -> structlog.stdlib.BoundLogger:
    """The logger the engine's modules log through (the ``jobforge`` standard logger).

    A structlog ``BoundLogger`` in all but its class: a stand-in that imports
    structlog when the first event at an enabled level is logged, and hands
    every other attribute to the structlog logger.
    """
    return cast("structlog.stdlib.BoundLogger", _LazyLogger())


class EventFormatter(logging.Formatter):
    """Renders a jobforge record as one JSON line (or structlog's console text):
    the event's fields, then ``level`` and ``timestamp`` (ISO 8601, UTC)."""

    def __init__(self, *, json: bool = True) -> None:
        super().__init__()
        self._json = json
        self._renderer: Any = None

    def _render(self, method: str, fields: dict[str, Any]) -> Any:
        if self._renderer is None:  # structlog is imported with the first record
            import structlog

            self._renderer = (
                structlog.processors.JSONRenderer()
                if self._json
                else structlog.dev.ConsoleRenderer()
            )
        return self._renderer(None, method, fields)

    def format(self, record: logging.LogRecord) -> str:
        fields = dict(getattr(record, LOGGER_NAME, None) or {"event": record.getMessage()})
        fields.setdefault("level", record.levelname.lower())
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z")
        fields.setdefault("timestamp", stamp)
        if record.exc_info and "exception" not in fields:
            fields["exception"] = self.formatException(record.exc_info)
        return str(self._render(record.levelname.lower(), fields))


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (and replaces on a second call)."""


def configure_logging(
    *, json: bool = True, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Send jobforge's events at ``level`` and above to ``stream`` (stderr) as
    JSON lines (or console text), and not to the application's other handlers.

    The CLI calls it; an application may too, or configure :mod:`logging` itself.
    """
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(handler)
    handler = _Handler(stream)
    handler.setFormatter(EventFormatter(json=json))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
