"""The ``console`` transport: each event as one line of JSON on standard error
(standard output is the command's own: ``jobforge run --json`` stays parseable)."""

from __future__ import annotations

import sys
from typing import Any

from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Config, Transport


class StderrTransport(Transport):
    kind = "console"
    config_class = Config

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def emit(self, event: Any) -> None:
        stream = self.stream or sys.stderr
        stream.write(Serde.to_json(event) + "\n")
        stream.flush()
