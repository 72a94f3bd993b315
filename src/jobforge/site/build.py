"""Writing the catalog site: a folder that opens from disk (``file://``) or from
any static web server.

::

    site/
      index.html            the pages (one page of JavaScript, routed by the URL's #fragment)
      site-data.js          the site model (jobforge.site.model) as ``window.JOBFORGE_SITE = {...}``
      assets/app.js, app.css
      vendor/               the graph library and its licence files (see vendor/README.md)
      .jobforge-site        marks the folder as a built site (a rebuild may replace it)

The model is a script, not a file the page fetches, so the site works from
disk where browsers refuse ``fetch()``. The page's Content-Security-Policy
allows scripts, styles and images of the site itself only and no connection
at all: a built site makes no network request.

The folder is written beside the target under a temporary name and then
moved into place, so a reader never sees half a site. An existing folder is
replaced only if it is a site built before (it has the marker); anything else
is an error, never deleted.
"""

from __future__ import annotations

import html
import json
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jobforge.errors import ConfigError
from jobforge.pipeline.config import PipelineConfig
from jobforge.site.model import build_site_model
from jobforge.storage.atomic import temporary_path_for

MARKER = ".jobforge-site"
ASSETS = ("app.js", "app.css")
VENDOR = (
    "cytoscape.min.js",
    "cytoscape-dagre.min.js",
    "cytoscape.LICENSE",
    "cytoscape-dagre.LICENSE",
    "dagre.LICENSE",
    "graphlib.LICENSE",
    "README.md",
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
)
"""The page's Content-Security-Policy: the site's own scripts, styles and images,
no connection (the graph library sets inline styles, hence ``'unsafe-inline'``
for styles only)."""


@dataclass(frozen=True)
class BuiltSite:
    """What :func:`build_site` wrote."""

    path: Path
    tables: int
    source_files: int
    bytes: int
    """Size of every file written."""
    model_seconds: float
    """Time spent gathering the model from the catalog."""
    write_seconds: float


def build_site(config: PipelineConfig, output: str | Path, *, project_name: str = "") -> BuiltSite:
    """Gather the model of ``config``'s catalog and write the site into ``output``."""
    output = Path(output)
    check_output(output)
    started = time.perf_counter()
    model = build_site_model(config, project_name=project_name)
    gathered = time.perf_counter()
    size = write_site(model, output)
    return BuiltSite(
        path=output,
        tables=len(model["tables"]),
        source_files=len(model["sources"]),
        bytes=size,
        model_seconds=gathered - started,
        write_seconds=time.perf_counter() - gathered,
    )


def check_output(output: Path) -> None:
    """Refuse a target that is not a folder this command may replace."""
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise ConfigError(f"{output}: exists and is not a folder; choose another --output")
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).is_file():
        raise ConfigError(
            f"{output}: a folder that is not a jobforge site (no {MARKER} in it); "
            "choose another --output or empty it first"
        )


def write_site(model: dict[str, Any], output: Path) -> int:
    """Write the site of ``model`` into ``output`` (replacing a site built
    before); return the bytes written."""
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = temporary_path_for(output)
    try:
        size = _write_files(model, staging)
        if output.exists():
            previous = temporary_path_for(output)
            output.rename(previous)
            staging.rename(output)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return size


def _write_files(model: dict[str, Any], folder: Path) -> int:
    package = resources.files("jobforge.site")
    (folder / "assets").mkdir(parents=True)
    (folder / "vendor").mkdir()
    template = package.joinpath("assets", "index.html").read_text("utf-8")
    files: dict[Path, bytes] = {
        folder / "index.html": _index(template, model),
        folder / "site-data.js": _data_script(model),
        folder / MARKER: b"A catalog site written by `jobforge docs build`; rebuilt in place.\n",
    }
    for name in ASSETS:
        files[folder / "assets" / name] = package.joinpath("assets", name).read_bytes()
    for name in VENDOR:
        files[folder / "vendor" / name] = package.joinpath("vendor", name).read_bytes()
    for path, data in files.items():
        path.write_bytes(data)
    return sum(len(data) for data in files.values())


def _index(template: str, model: dict[str, Any]) -> bytes:
    project = model.get("project") or "jobforge"
    values = {
        "{csp}": CSP,
        "{generator}": html.escape(str(model.get("generator", "jobforge"))),
        "{title}": html.escape(f"{project} catalog"),
        "{project}": html.escape(project),
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return template.encode("utf-8")


def _data_script(model: dict[str, Any]) -> bytes:
    """The model as a script: JSON is valid JavaScript; ``</`` is escaped so the
    same text is safe inside an HTML ``<script>`` element too."""
    text = json.dumps(model, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"window.JOBFORGE_SITE = {text};\n".encode()
