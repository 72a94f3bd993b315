"""A file that hashes the bytes written to it: the digest a lineage record holds
comes from the bytes as they go to disk, never from reading the file back.

A writer asks :meth:`jobforge.storage.pending.PendingFiles.sink_for` for the
sink of a file it publishes and writes through it (polars ``sink_parquet``, a
``pyarrow.parquet.ParquetWriter``: both take a binary file object); when the
sink is closed, :attr:`HashingFile.digest` holds the sha256 and size of every
byte that reached the file.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class HashingFile(io.RawIOBase):
    """A write-only binary file at ``path`` (created, or truncated) whose sha256
    and size are taken from what is written, as it is written."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._digest: tuple[str, int] | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data).cast("B")
        # A buffered file writes everything it is given (or raises): what it
        # accepts is exactly what is hashed.
        written = self._file.write(view)
        self._sha256.update(view[:written])
        self._size += written
        return written

    def tell(self) -> int:
        """Bytes written so far (pyarrow asks; the file is never sought)."""
        return self._size

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        """Close the file; the digest is known once the close succeeded (every
        byte handed to the operating system)."""
        if self.closed:
            return
        try:
            self._file.close()
            self._digest = (self._sha256.hexdigest(), self._size)
        finally:
            super().close()

    @property
    def digest(self) -> tuple[str, int] | None:
        """The hex sha256 and the size in bytes of what was written (``None``
        until the sink is closed)."""
        return self._digest
