"""An ``s3://`` data root and its settings: parsed and checked before anything
is reached, never shown; the local-disk side of :class:`ObjectFiles` keeps
the same conditional-write rules as the bucket (tests/test_delta_s3_store.py
checks them against moto)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobforge.errors import ConfigError
from jobforge.pipeline.config import PipelineConfig
from jobforge.storage.objects import LocalFiles, ObjectRoot, PreconditionFailed

from .cli_helpers import jobforge

SECRET = "wJalrXUtnFEMI-never-shown"


def test_an_s3_root_parses_into_bucket_and_prefix(tmp_path: Path) -> None:
    config = PipelineConfig(
        "s3://lake/teams/hr/",
        storage_format="delta",
        storage_options={"endpoint": "http://127.0.0.1:9", "allow_http": "true"},
        state_dir=tmp_path / "state",
        entry_points=False,
    )
    root = config.object_root
    assert root is not None
    assert (root.bucket, root.prefix, root.url) == ("lake", "teams/hr", "s3://lake/teams/hr")
    assert root.uri_for("silver/t") == "s3://lake/teams/hr/silver/t"
    assert config.data_root == tmp_path / "state"
    assert repr(config) == "PipelineConfig(data_root='s3://lake/teams/hr')"
    options = root.delta_options()
    assert options["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert options["AWS_ALLOW_HTTP"] == "true"
    assert options["conditional_put"] == "etag"  # commits never rely on a rename


def test_the_default_state_folder_is_named_after_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = PipelineConfig("s3://lake/a/b", storage_format="delta", entry_points=False)
    assert config.data_root == Path(".jobforge", "lake", "a", "b")


def test_options_never_show_their_values() -> None:
    root = ObjectRoot.parse("s3://lake/p", {"secret_access_key": SECRET, "region": "ca-central-1"})
    assert SECRET not in repr(root) and SECRET not in str(root)
    assert root.setting("secret_access_key") == SECRET  # given to the client only


def test_the_environment_fills_in_what_the_options_do_not_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-env:1")
    root = ObjectRoot.parse("s3://lake/p", {"endpoint": "http://from-file:2"})
    assert root.setting("endpoint") == "http://from-file:2"
    assert root.setting("region") == "eu-west-3"


@pytest.mark.parametrize(
    ("url", "options", "expected"),
    [
        ("s3://lake/p", {"regoin": "x"}, "[storage.options] regoin: unknown key"),
        ("s3://lake/p", {"allow_http": "perhaps"}, "allow_http: expected true or false"),
        ("s3:///p", None, "expected s3://bucket/prefix"),
        ("s3://key:" + SECRET + "@lake/p", None, "without credentials"),
    ],
)
def test_a_bad_root_or_option_is_one_line(
    tmp_path: Path, url: str, options: dict[str, str] | None, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        PipelineConfig(url, storage_format="delta", storage_options=options, state_dir=tmp_path)
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert SECRET not in message


def test_the_parquet_store_refuses_an_s3_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='needs \\[storage\\] format = "delta"') as caught:
        PipelineConfig("s3://lake/p", state_dir=tmp_path)
    assert "s3://lake/p" in str(caught.value) and "\n" not in str(caught.value)


def test_options_are_refused_for_a_local_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only for an s3:// data_root"):
        PipelineConfig(tmp_path / "data", storage_options={"region": "x"})


def test_a_state_dir_is_refused_for_a_local_root(tmp_path: Path) -> None:
    """A local data root keeps its locks, journal and scratch files in itself: a
    state folder given with it would be unused, so it is refused (library and
    project file alike), and nothing is created there."""
    state = tmp_path / "state"
    with pytest.raises(ConfigError) as caught:
        PipelineConfig(tmp_path / "data", storage_format="delta", state_dir=state)
    message = str(caught.value)
    assert message.startswith(f"state_dir {str(state)!r}: only for an s3:// data_root")
    assert "is a local folder" in message and "\n" not in message
    assert not state.exists()
    project = tmp_path / "project"
    project.mkdir()
    (project / "jobforge.toml").write_text(
        '[project]\nname = "p"\n\n[storage]\nformat = "delta"\nstate_dir = "state"\n',
        encoding="utf-8",
    )
    result = jobforge("status", cwd=project)
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"error: {project / 'jobforge.toml'}: storage.state_dir: only for an s3:// "
        f"data_root (the data root {str(project / 'data')!r} is a local folder)"
    ]
    assert not (project / "state").exists()


def test_local_files_create_once_and_replace_only_the_version_read(tmp_path: Path) -> None:
    files = LocalFiles(tmp_path)
    first = files.create("a/b.json", b"1")
    with pytest.raises(PreconditionFailed):
        files.create("a/b.json", b"2")
    found = files.read("a/b.json")
    assert found == (b"1", first)
    second = files.replace("a/b.json", b"3", first)
    with pytest.raises(PreconditionFailed):
        files.replace("a/b.json", b"4", first)
    assert files.read("a/b.json") == (b"3", second)
    assert files.keys("a") == ["a/b.json"] and files.read("nope") is None
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.json"]  # no temporary left
    files.delete("a/b.json")
    assert not os.listdir(tmp_path / "a")


def test_a_url_given_as_a_folder_is_refused_without_showing_it(tmp_path: Path) -> None:
    """``--data-root`` is a folder option: ``s3://...`` there would have become a
    local folder named ``s3:`` (a path type collapses ``//``)."""
    from .cli_helpers import jobforge

    result = jobforge("--data-root", f"s3://key:{SECRET}@lake/p", "status", cwd=tmp_path)
    assert result.code != 0
    (line,) = result.err.strip().splitlines()
    assert "--data-root" in line and "a s3: URL, not a folder" in line
    assert SECRET not in result.err + result.out
    assert not list(tmp_path.iterdir())  # nothing created
