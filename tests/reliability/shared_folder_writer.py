"""A concurrent writer of a shared catalog folder, as its own process.

Holding the folder's lock, it writes the first half of ``<folder>/<name>``
under its temporary name, prints that temporary path, waits for a line on
stdin, then writes the rest and renames the file into place (as every writer of
``catalog/glossary/`` and ``catalog/schemas/`` does, only paused in between).

Usage: ``python shared_folder_writer.py DATA_ROOT FOLDER NAME`` (content on stdin's
first line, the go-ahead on its second).
"""

from __future__ import annotations

import sys

from jobforge_catalog_json.shared import SHARED_FOLDERS, writing

from jobforge.pipeline.config import PipelineConfig
from jobforge.storage.atomic import atomic_path


def main() -> None:
    data_root, folder, name = sys.argv[1:4]
    (shared,) = [f for f in SHARED_FOLDERS if f == folder]
    content = sys.stdin.readline().rstrip("\n").encode("utf-8")
    config = PipelineConfig(data_root, entry_points=False)
    with writing(config, shared) as path, atomic_path(path / name) as tmp, open(tmp, "wb") as out:
        half = len(content) // 2
        out.write(content[:half])
        out.flush()
        print(tmp, flush=True)
        sys.stdin.readline()
        out.write(content[half:])


if __name__ == "__main__":
    main()
