"""Asking for the Delta store without its package is one line naming the extra to
install: ``jobforge[delta]`` for local tables, ``jobforge[s3]`` (deltalake and boto3)
for an ``s3://`` root. Each case is a real ``jobforge status`` in a child process in
which ``deltalake`` cannot be imported (``sys.modules["deltalake"] = None`` makes
every ``import deltalake`` raise ImportError, as on a machine without it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WITHOUT_DELTALAKE = textwrap.dedent(
    """
    import sys
    sys.modules["deltalake"] = None
    from jobforge.cli.app import main
    sys.argv = ["jobforge", "status"]
    sys.exit(main())
    """
)


@pytest.mark.parametrize(
    ("data_root", "extra"),
    [("data", "jobforge[delta]"), ("s3://bucket/warehouse", "jobforge[s3]")],
    ids=["local", "s3"],
)
def test_the_delta_store_without_deltalake_names_the_extra(
    tmp_path: Path, data_root: str, extra: str
) -> None:
    (tmp_path / "jobforge.toml").write_text(
        f'[project]\ndata_root = "{data_root}"\n\n[storage]\nformat = "delta"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DELTALAKE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "needs the deltalake package" in lines[0]
    assert f"pip install '{extra}'" in lines[0]
    assert "Traceback" not in done.stderr
