"""Serving a built catalog site over HTTP (``jobforge docs serve``).

A small threaded server of the standard library, for looking at a site on
one's own machine: it binds to 127.0.0.1 unless told otherwise, serves the
site's folder only (no listing of folders, nothing above it), and sends the
same Content-Security-Policy as the page. To publish a site, copy the folder
to any static web server instead (see docs/site.md).
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jobforge.errors import ConfigError
from jobforge.site.build import CSP, MARKER


class SiteRequestHandler(SimpleHTTPRequestHandler):
    """Static files of one site folder, with safe headers and no folder listings."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def list_directory(self, path: Any) -> None:
        self.send_error(404, "not found")
        return None

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints the URL
        return


def make_server(site: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server for the site in ``site`` (not started); ``port=0`` picks a free port."""
    site = Path(site)
    if not (site / MARKER).is_file() or not (site / "index.html").is_file():
        raise ConfigError(f"{site}: not a built site (run `jobforge docs build -o {site}` first)")
    handler = functools.partial(SiteRequestHandler, directory=str(site.resolve()))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def url_of(server: ThreadingHTTPServer) -> str:
    address, port = server.server_address[:2]
    host = address.decode() if isinstance(address, bytes) else address
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
