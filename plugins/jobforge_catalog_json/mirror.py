"""The JSON catalog of an ``s3://`` data root: its files in the bucket, a copy beside.

The catalog's files live in the bucket, below the same prefix as the tables
(``s3://bucket/prefix/catalog/...``), laid out as in a local data root. The
store keeps reading local files, so everything that reads the catalog
(``verify`` hashes the record files as written) reads the same bytes: the
config's state folder holds a copy of the catalog, refreshed from the bucket
when the store is first used (:meth:`CatalogMirror.pull`: every object whose
ETag differs from the MD5 of the local copy is downloaded).

A write goes to the bucket first, then to the local copy
(:meth:`CatalogMirror.push`), so the local copy is always what this machine
last saw in the bucket. It is a conditional put, never a rename: a file with
no local copy is created with ``If-None-Match: *``; one with a local copy is
replaced with ``If-Match: <MD5 of the copy>`` (the ETag of a plain PUT). A
writer on another machine that changed the object since this machine last
saw it makes the server refuse the write (412): a one-line
:class:`CatalogError`, and nothing is overwritten. Writers on one machine
are ordered by the table and folder locks as on a local disk (each sees the
other's local copy). An object is never seen half written: a PUT is whole
or absent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from jobforge.plugin import (
    CatalogError,
    ObjectRoot,
    PipelineConfig,
    PreconditionFailed,
    S3Files,
    atomic_write_text,
    get_logger,
)

log = get_logger()


def _md5_tag(path: Path) -> str:
    return f'"{hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()}"'


class CatalogMirror:
    """The catalog folder of ``config`` kept in its bucket (see the module docstring)."""

    def __init__(self, config: PipelineConfig, root: ObjectRoot) -> None:
        self.config = config
        self.root = root
        self.objects = S3Files(root)
        self.folder = config.catalog_path()
        self.pulled = False

    def key(self, path: Path) -> str:
        try:
            return path.relative_to(self.config.data_root).as_posix()
        except ValueError:
            raise CatalogError(
                f"{path}: a catalog folder outside the state folder {self.config.data_root}; "
                f"with data_root {self.root.url!r} the catalog must stay below the data root"
            ) from None

    def pull(self) -> None:
        """Bring the local copy up to the bucket's catalog (once per store)."""
        if self.pulled:
            return
        tags = self.objects.tags(self.key(self.folder))
        base = self.config.data_root
        for key, tag in tags.items():
            path = base / key
            if not path.is_file() or _md5_tag(path) != tag:
                self.objects.download(key, path)
        self.pulled = True
        log.debug("catalog.pulled", root=self.root.url, objects=len(tags))

    def push(self, path: Path, text: str) -> None:
        """Write ``path``'s object (conditionally), then its local copy."""
        self.pull()
        key = self.key(path)
        data = text.encode("utf-8")
        try:
            if path.is_file():
                self.objects.replace(key, data, _md5_tag(path))
            else:
                self.objects.create(key, data)
        except (PreconditionFailed, FileNotFoundError):
            raise CatalogError(
                f"{self.root.uri_for(key)}: written from elsewhere since this machine read "
                "it; nothing was overwritten (run again)"
            ) from None
        atomic_write_text(path, text)
