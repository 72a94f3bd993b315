"""One SparkSession per run: started on first use, stopped by :meth:`SparkRun.stop`.

Local mode binds to loopback (``SPARK_LOCAL_IP=127.0.0.1``), keeps the UI off
unless asked, and sends the JVM's own output (log4j, the launcher's notes) to
a log file instead of the user's terminal, unless jobforge logs at ``debug``.
Every session gets the settings jobforge's outputs depend on
(:data:`REQUIRED_CONF`); the user's ``conf`` cannot change those.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jobforge.plugin import ConfigError, SparkSection
from jobforge_spark.stale import prefix

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REQUIRED_CONF: dict[str, str] = {
    # Timestamps as INT64 microseconds marked UTC (Spark's INT96 default loses the zone).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
    # Source headers differ by case only ("Code", "code"): two columns, as in polars.
    "spark.sql.caseSensitive": "true",
    # Gold SQL reads its input views only, never a file named in the query.
    "spark.sql.runSQLOnFiles": "false",
}
"""Settings jobforge's outputs depend on: set on every session, over the user's."""

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.hadoop.parquet.enable.summary-metadata": "false",
    "spark.sql.adaptive.enabled": "true",
}
"""Defaults the user's ``conf`` may change."""


SERVER_ONLY_PREFIXES = ("spark.hadoop.",)
"""Settings a Spark Connect client cannot change: the server accepts
``spark.hadoop.*`` from a client but its writers do not read them (checked:
``_SUCCESS`` is still written), so they are the server's (``--conf`` when it
starts; see docs/scale-out.md)."""


def client_conf(conf: dict[str, str]) -> dict[str, str]:
    """The settings of ``conf`` a Spark Connect client sets on its session."""
    return {k: v for k, v in conf.items() if not k.startswith(SERVER_ONLY_PREFIXES)}


_CONNECT_CLIENT = ("grpc", "grpc_status", "google.rpc", "pandas", "zstandard")
"""What pyspark's Connect client imports beyond pyspark (its ``connect`` extra)."""

CONNECT_TIMEOUT_S = 10.0
"""How long the server's address may take to accept a TCP connection."""


def _address(url: str, where: str) -> tuple[str, int]:
    """The host and port of ``url`` (``sc://host[:port][/;param=value...]``,
    port 15002 by default); a one-line :class:`ConfigError` otherwise."""
    from urllib.parse import urlsplit

    if not url.startswith("sc://"):
        raise ConfigError(f"{where}: expected sc://host:port (Spark Connect)")
    try:
        address = urlsplit("http://" + url[len("sc://") :].split("/", 1)[0])
        host, port = address.hostname, address.port or 15002
    except ValueError as exc:
        raise ConfigError(f"{where}: expected sc://host:port ({exc})") from None
    if not host:
        raise ConfigError(f"{where}: expected sc://host:port (no host)")
    return host, port


def _reachable(url: str, where: str) -> None:
    """A one-line :class:`ConfigError` unless something accepts connections at
    the address of ``url``. The Connect client itself retries an absent server
    for minutes."""
    import socket

    host, port = _address(url, where)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{where}: cannot connect to {host}:{port} ({reason})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _debug() -> bool:
    return logging.getLogger("jobforge").isEnabledFor(logging.DEBUG)


CONNECT_ENVIRONMENT = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE")
"""What pyspark sets in the process environment when a Connect session starts, and
leaves set after a remote session stops: while it is set, pyspark builds Connect
columns and refuses to start a classic session in this process. A run puts back
what was there before it (:meth:`SparkRun.stop`)."""


def _environment() -> dict[str, str | None]:
    return {key: os.environ.get(key) for key in CONNECT_ENVIRONMENT}


def _restore(before: dict[str, str | None]) -> None:
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class SparkRun:
    """The session of one run (see the module docstring)."""

    def __init__(self, settings: SparkSection) -> None:
        self.settings = settings
        self._session: SparkSession | None = None
        self._log: Path | None = None
        self.startup_s: float | None = None
        """Seconds the session took to start (``None``: not started)."""
        self._owned = True
        self._environment: dict[str, str | None] | None = None
        """The Connect variables as they were before this run's remote session."""
        """False when the session is one this process already had running (another
        engine's, a notebook's): :meth:`stop` leaves it to its owner."""

    @property
    def master(self) -> str:
        return self.settings.master or "local[2]"

    @property
    def started(self) -> bool:
        return self._session is not None

    def session(self) -> SparkSession:
        if self._session is None:
            import time

            began = time.perf_counter()
            self._session = self._start_remote() if self.settings.remote else self._start_local()
            self.startup_s = time.perf_counter() - began
            atexit.register(self.stop)
        return self._session

    def _conf(self) -> dict[str, str]:
        return {**DEFAULT_CONF, **self.settings.conf, **REQUIRED_CONF}

    def _start_local(self) -> SparkSession:
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession

        active = SparkContext._active_spark_context
        if active is not None:  # one SparkContext per process: share it
            self._owned = False
            return self._session_on(SparkSession(active))
        if self.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (the quarantine messages' repr) run this interpreter.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        conf = SparkConf().setMaster(self.master).setAppName(self.settings.app_name)
        conf.set("spark.ui.enabled", "true" if self.settings.ui else "false")
        if self.master.startswith("local"):
            conf.set("spark.driver.host", "127.0.0.1")
            conf.set("spark.driver.bindAddress", "127.0.0.1")
        for key, value in self._conf().items():
            conf.set(key, value)
        popen: dict[str, object] = {}
        if not _debug():
            handle, name = tempfile.mkstemp(prefix=prefix(), suffix=".log")
            self._log = Path(name)
            popen = {"stdout": handle, "stderr": handle}
        try:
            # The JVM outlives a stopped context: a later session of this process uses it.
            gateway = SparkContext._gateway or launch_gateway(  # type: ignore[no-untyped-call]  # pyspark leaves it unannotated
                conf, popen_kwargs=popen
            )
        except Exception as exc:
            raise ConfigError(
                f"engine.spark: cannot start Spark ({str(exc).strip().splitlines()[0]}); "
                f"Spark needs Java 17 (JAVA_HOME or java on PATH){self._see_log()}"
            ) from None
        finally:
            if popen:
                os.close(handle)
        context = SparkContext(conf=conf, gateway=gateway)
        context.setLogLevel("DEBUG" if _debug() else "ERROR")
        return SparkSession(context)

    def _session_on(self, running: SparkSession) -> SparkSession:
        """A session of this run's own on a SparkContext the process already runs
        (another engine's, a notebook's): its SQL settings and temporary views are
        apart from the owner's. The run's settings that a running context still
        takes (runtime SQL settings, such as the shuffle partitions) are set on it;
        the others (``spark.hadoop.*``, static settings) stay the context's, which
        docs/scale-out.md says."""
        session = running.newSession()
        for key, value in self._conf().items():
            if key in REQUIRED_CONF or session.conf.isModifiable(key):
                session.conf.set(key, value)
        return session

    def _start_remote(self) -> SparkSession:
        """A new Spark Connect session of its own (its settings and temporary
        views are this run's), with :func:`client_conf` set and read back."""
        from pyspark.sql import SparkSession

        where = f"engine.spark.remote {self.settings.remote!r}"
        missing = [m for m in _CONNECT_CLIENT if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(
                f"{where}: the Spark Connect client needs {', '.join(missing)}, which "
                "is not installed: pip install 'jobforge[spark-connect]'"
            )
        remote = self.settings.remote
        if remote is None:  # only called when a remote is set
            raise ConfigError(f"{where}: no remote given")
        _reachable(remote, where)
        before = _environment()
        try:
            session = SparkSession.builder.remote(remote).create()
        except Exception as exc:
            _restore(before)
            raise ConfigError(f"{where}: cannot connect ({_first_line(exc)})") from None
        self._environment = before
        for key, value in client_conf(self._conf()).items():
            try:
                session.conf.set(key, value)
                now = session.conf.get(key)
            except Exception as exc:
                session.stop()
                self._restore_environment()
                message = f"cannot set {key} = {value!r} ({_first_line(exc)})"
                if key not in REQUIRED_CONF:
                    message += ": remove it from engine.spark.conf or set it on the server"
                raise ConfigError(f"{where}: {message}") from None
            if key in REQUIRED_CONF and str(now).lower() != value.lower():
                session.stop()
                self._restore_environment()
                raise ConfigError(
                    f"{where}: the server keeps {key} = {now!r}; jobforge needs {value!r}"
                )
        return session

    def _restore_environment(self) -> None:
        if self._environment is not None:
            _restore(self._environment)
            self._environment = None

    def _see_log(self) -> str:
        return f"; Spark's log: {self._log}" if self._log else ""

    def stop(self) -> None:
        """Stop the session (a no-op if it never started or is stopped)."""
        session, self._session = self._session, None
        if session is None:
            return
        atexit.unregister(self.stop)
        if self.settings.remote:
            try:
                _reachable(self.settings.remote, "")
            except ConfigError:  # the server is gone: nothing to release, and the
                # client would retry releasing the session for minutes
                session.release_session_on_close = False  # type: ignore[attr-defined]
        if self._owned:
            session.stop()
        self._restore_environment()
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
