"""The time limit of a query: DuckDB's ``interrupt()`` called from a timer.

The limit covers everything from the start of a statement to the moment its
result is read to the end (or closed): running the query and reading its
batches. A timer thread calls ``interrupt()`` on the connection when the
limit passes; DuckDB then stops the statement at its next check and raises
"INTERRUPT Error". The timer can only interrupt while its statement is still
open (:meth:`TimeLimit.stop` takes the same lock), so it never stops a later
statement on the same connection.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from jobforge.errors import QueryError

if TYPE_CHECKING:  # the defaults above are read by the command line without DuckDB
    import duckdb

DEFAULT_TIMEOUT_S = 60.0
"""Default time limit of a query (``jobforge query --timeout``, ``QueryEngine(timeout=...)``)."""
DEFAULT_MEMORY_LIMIT = "2GB"
"""Default DuckDB ``memory_limit`` of the query connection (``--memory-limit``)."""


def check_timeout(seconds: float | None) -> float | None:
    """``seconds`` if it is a valid time limit (``None`` or ``0``: no limit)."""
    if seconds is None or seconds == 0:
        return None
    if not seconds > 0:  # also refuses NaN
        raise QueryError(f"invalid timeout {seconds!r}: expected a number of seconds > 0")
    return float(seconds)


class TimeLimit:
    """Interrupt ``con`` if the statement is still open after ``seconds``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: float | None) -> None:
        self.con = con
        self.seconds = seconds
        self.fired = False
        self._open = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def start(self) -> TimeLimit:
        if self.seconds is None:
            return self
        self._open = True
        self._timer = threading.Timer(self.seconds, self._interrupt)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _interrupt(self) -> None:
        with self._lock:
            if self._open:
                self.fired = True
                self.con.interrupt()

    def stop(self) -> None:
        with self._lock:
            self._open = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def message(self) -> str:
        return (
            f"query stopped: it ran longer than its time limit of {self.seconds:g} s "
            "(--timeout SECONDS, or QueryEngine(timeout=...); 0 for no limit)"
        )

    def __enter__(self) -> TimeLimit:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
