"""One SparkSession per run: started on first use, stopped by :meth:`SparkRun.stop`.

Local mode binds to loopback (``SPARK_LOCAL_IP=127.0.0.1``), keeps the UI off
unless asked, and sends the JVM's own output (log4j, the launcher's notes) to
a log file instead of the user's terminal, unless jobforge logs at ``debug``.
Every session gets the settings jobforge's outputs depend on
(:data:`REQUIRED_CONF`); the user's ``conf`` cannot change those.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jobforge.plugin import ConfigError, SparkSection

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


def _debug() -> bool:
    return logging.getLogger("jobforge").isEnabledFor(logging.DEBUG)


class SparkRun:
    """The session of one run (see the module docstring)."""

    def __init__(self, settings: SparkSection) -> None:
        self.settings = settings
        self._session: SparkSession | None = None
        self._log: Path | None = None
        self.startup_s: float | None = None
        """Seconds the session took to start (``None``: not started)."""
        self._owned = True
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
            session = SparkSession(active)
            for key, value in REQUIRED_CONF.items():
                session.conf.set(key, value)
            return session
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
            handle, name = tempfile.mkstemp(prefix="jobforge-spark-", suffix=".log")
            self._log = Path(name)
            popen = {"stdout": handle, "stderr": handle}
        try:
            # The JVM outlives a stopped context: a later session of this process uses it.
            gateway = SparkContext._gateway or launch_gateway(conf, popen_kwargs=popen)
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

    def _start_remote(self) -> SparkSession:
        from pyspark.sql import SparkSession

        try:
            session = SparkSession.builder.remote(self.settings.remote).getOrCreate()
        except Exception as exc:
            raise ConfigError(
                f"engine.spark.remote {self.settings.remote!r}: cannot connect "
                f"({str(exc).strip().splitlines()[0]})"
            ) from None
        for key, value in self._conf().items():
            if not key.startswith("spark.hadoop."):  # static: the server's own
                session.conf.set(key, value)
        return session

    def _see_log(self) -> str:
        return f"; Spark's log: {self._log}" if self._log else ""

    def stop(self) -> None:
        """Stop the session (a no-op if it never started or is stopped)."""
        session, self._session = self._session, None
        if session is None:
            return
        atexit.unregister(self.stop)
        if self._owned:
            session.stop()
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
