"""A Spark Connect server on loopback, in a process of its own: what the tests
run the spark executor's ``remote`` setting against, and the command
docs/scale-out.md shows for starting one by hand.

The server is pyspark's own (``spark-submit --class
org.apache.spark.sql.connect.service.SparkConnectServer``; the pip package
ships the Connect jar), bound to 127.0.0.1, with the Spark UI off and the
settings jobforge's outputs depend on given as ``--conf``: the client sets
the session ones again (:func:`jobforge_spark.session.client_conf`), but
``spark.hadoop.*`` and ``spark.ui.enabled`` only the server can set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from jobforge.plugin import ConfigError
from jobforge_spark.session import DEFAULT_CONF, REQUIRED_CONF

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def spark_home() -> Path:
    """The Spark installation pyspark ships (its ``bin/spark-submit``)."""
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_conf(port: int, master: str = "local[2]") -> dict[str, str]:
    """The ``--conf`` settings of a loopback server for jobforge."""
    return {
        "spark.master": master,
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        **DEFAULT_CONF,
        **REQUIRED_CONF,
    }


def server_command(port: int, master: str = "local[2]") -> list[str]:
    """The command line that starts the server in the foreground."""
    command = [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS]
    command += ["--name", "jobforge-connect"]
    for key, value in server_conf(port, master).items():
        command += ["--conf", f"{key}={value}"]
    return command


class ConnectServer:
    """A running server (:meth:`start`); :meth:`stop` ends it and waits."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, log: Path, timeout: float = 300.0, master: str = "local[2]") -> ConnectServer:
        """Start a server on a free loopback port and wait until it accepts
        connections; its output goes to ``log``. A :class:`ConfigError` with the
        log's last line if it exits or does not listen within ``timeout`` s."""
        port = free_port()
        env = {
            **os.environ,
            "SPARK_LOCAL_IP": "127.0.0.1",
            # Python UDFs (the quarantine messages' repr) run this interpreter.
            "PYSPARK_PYTHON": sys.executable,
        }
        with log.open("ab") as sink:
            process = subprocess.Popen(
                server_command(port, master),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        server = cls(process, port, log)
        deadline = time.monotonic() + timeout
        while not server.accepts():
            exited = process.poll() is not None
            if exited or time.monotonic() > deadline:
                server.stop()
                what = "exited" if exited else f"did not listen in {timeout:.0f} s"
                raise ConfigError(f"Spark Connect server {what}: {server.last_line()}")
            time.sleep(0.5)
        return server

    def accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def last_line(self) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return lines[-1] if lines else f"no output (see {self.log})"

    def stop(self, grace: float = 30.0) -> None:
        """End the server's process group (SIGTERM, then SIGKILL after ``grace`` s)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # a child left behind in the group
            os.killpg(self.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + grace  # until the last one is gone (and reaped)
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)

    def group_alive(self) -> bool:
        """Whether any process of the server's process group is left."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True
