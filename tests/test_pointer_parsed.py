"""A version pointer is parsed once for the bytes it holds (``versions._Parsed``):
what is read is always what the pointer's bytes say, whoever wrote them, and no
reader can change what another reads. Real pointer files, written by
``versions.publish`` and by hand."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from jobforge.storage import versions
from jobforge.storage.versions import BatchEntry, CurrentVersion

WHEN = datetime(2026, 12, 4, 19, 30, 5, 123456, tzinfo=UTC)


def _entry(number: int, parts: int = 0) -> BatchEntry:
    name = versions.batch_file_name(f"b{number}")
    return BatchEntry(
        batch_id=f"b{number}",
        file=name,
        rows=3,
        source_sha256="ab" * 32,
        source_file=f"/sources/tiny-{number}.csv",
        ingested_at=WHEN,
        record_id=f"record-{number}",
        fingerprint={"input:staged.tiny": f"{number:016x}", "executor": "883f0f721de2270b"},
        parts=[versions.part_file_name(name, i) for i in range(parts)],
    )


def _publish(layer_dir: Path, number: int, previous: CurrentVersion | None) -> CurrentVersion:
    return versions.publish(
        layer_dir,
        "tiny",
        "bronze",
        [_entry(number, parts=number % 3)],
        mode="append",
        updated_at=WHEN,
        record_id=f"record-{number}",
        previous=previous,
    )


def _parsed_from_disk(layer_dir: Path) -> CurrentVersion:
    """The pointer parsed from its file, without ``read_current``."""
    text = (layer_dir / "tiny" / versions.POINTER_NAME).read_text(encoding="utf-8")
    return CurrentVersion.model_validate(json.loads(text))


def test_what_is_read_after_a_publication_is_what_the_file_says(tmp_path: Path) -> None:
    previous = None
    for number in range(1, 6):
        previous = _publish(tmp_path, number, previous)
        read = versions.read_current(tmp_path, "tiny")
        assert read == _parsed_from_disk(tmp_path) == previous
    assert read is not None
    assert [b.batch_id for b in read.batches] == ["b1", "b2", "b3", "b4", "b5"]
    assert read.version == 5 and read.row_count == 15
    assert read.batches[1].parts == [
        "batch=b2.part-00000.parquet",
        "batch=b2.part-00001.parquet",
    ]
    assert read.batches[4].fingerprint["input:staged.tiny"] == "0000000000000005"


def test_a_pointer_rewritten_with_the_same_size_is_read_anew(tmp_path: Path) -> None:
    _publish(tmp_path, 1, None)
    assert versions.read_current(tmp_path, "tiny").row_count == 3  # type: ignore[union-attr]
    pointer = tmp_path / "tiny" / versions.POINTER_NAME
    before = pointer.stat()
    text = pointer.read_text(encoding="utf-8")
    assert text.count('"rows": 3') == 1
    # another writer: same size, same modification time, one digit changed
    pointer.write_text(text.replace('"rows": 3', '"rows": 7'), encoding="utf-8")
    os.utime(pointer, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert pointer.stat().st_size == before.st_size
    read = versions.read_current(tmp_path, "tiny")
    assert read is not None and read.row_count == 7
    assert read == _parsed_from_disk(tmp_path)


def test_a_broken_pointer_fails_on_every_read(tmp_path: Path) -> None:
    _publish(tmp_path, 1, None)
    pointer = tmp_path / "tiny" / versions.POINTER_NAME
    good = pointer.read_bytes()
    pointer.write_bytes(good.replace(b'"rows": 3', b'"rows": "three"'))
    for _ in range(2):
        with pytest.raises(ValidationError, match="rows"):
            versions.read_current(tmp_path, "tiny")
    pointer.write_bytes(good)
    assert versions.read_current(tmp_path, "tiny").row_count == 3  # type: ignore[union-attr]


def test_no_reader_changes_what_another_reads(tmp_path: Path) -> None:
    _publish(tmp_path, 1, _publish(tmp_path, 0, None))
    first = versions.read_current(tmp_path, "tiny")
    assert first is not None
    first.batches.append(_entry(9))
    first.batches.pop(0)
    first.extra["note"] = {"mine": [1]}
    with pytest.raises(ValidationError, match="frozen"):
        first.batches[0].rows = 99
    second = versions.read_current(tmp_path, "tiny")
    assert second is not None
    assert [b.batch_id for b in second.batches] == ["b0", "b1"]
    assert second.extra == {} and second.batches[0].rows == 3
    assert second == _parsed_from_disk(tmp_path)


def _count_validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that learns a 1 each time a pointer is parsed (``model_validate_json``,
    which parses and validates, wrapped: the real parse runs)."""
    validated: list[int] = []
    real = CurrentVersion.model_validate_json.__func__  # type: ignore[attr-defined]

    def counting(cls: type[CurrentVersion], /, *args: object, **kwargs: object) -> CurrentVersion:
        validated.append(1)
        parsed: CurrentVersion = real(cls, *args, **kwargs)
        return parsed

    monkeypatch.setattr(CurrentVersion, "model_validate_json", classmethod(counting))
    return validated


def test_an_unchanged_pointer_is_not_validated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = None
    for number in range(1, 4):
        previous = _publish(tmp_path, number, previous)
    validated = _count_validations(monkeypatch)
    for _ in range(5):
        assert versions.read_current(tmp_path, "tiny") == previous
    assert validated == []  # the bytes are the ones publish wrote
    pointer = tmp_path / "tiny" / versions.POINTER_NAME
    pointer.write_bytes(pointer.read_bytes().replace(b'"version": 3', b'"version": 4'))
    for _ in range(3):
        read = versions.read_current(tmp_path, "tiny")
        assert read is not None and read.version == 4
    assert validated == [1]  # new bytes: parsed once


def test_at_most_the_bound_of_pointers_is_kept_and_the_oldest_is_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that reads many tables' pointers keeps the versions of the
    last :data:`versions.KEPT_POINTERS` only: the first read again is parsed."""
    parsed = versions._Parsed(3)
    monkeypatch.setattr(versions, "_PARSED", parsed)
    folders = [tmp_path / f"layer{n}" for n in range(5)]
    for folder in folders:
        _publish(folder, 1, None)
    assert len(parsed) == 3  # the publications kept the last three only
    on_disk = [_parsed_from_disk(folder) for folder in folders]
    validated = _count_validations(monkeypatch)
    for n in (2, 3, 4):
        assert versions.read_current(folders[n], "tiny") == on_disk[n]
    assert validated == []  # the last three are kept
    assert versions.read_current(folders[0], "tiny") == on_disk[0]
    assert validated == [1]  # the first had left: parsed again
    assert len(parsed) == 3
    # of the three kept before, folders[2] was read least recently: it left
    assert versions.read_current(folders[3], "tiny") == on_disk[3]
    assert validated == [1]
    assert versions.read_current(folders[2], "tiny") == on_disk[2]
    assert validated == [1, 1]


def _by_objects(data: bytes) -> CurrentVersion:
    """How a pointer was parsed before: ``json.loads``, then validated."""
    return CurrentVersion.model_validate(json.loads(data.decode("utf-8")))


def _outcome(parse: object, data: bytes) -> tuple[str, object]:
    """What parsing ``data`` gives: the version, or the error as a reader sees it
    (a JSON error's message; a validation error's types and places)."""
    try:
        return "version", parse(data)  # type: ignore[operator]
    except ValidationError as exc:
        return "invalid", [(e["type"], e["loc"]) for e in exc.errors()]
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        return type(exc).__name__, str(exc)


def _pointer_bytes(tmp_path: Path) -> bytes:
    previous = None
    for number in range(1, 4):
        previous = _publish(tmp_path, number, previous)
    return (tmp_path / "tiny" / versions.POINTER_NAME).read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # cut short
        lambda d: b"",
        lambda d: b"\xef\xbb\xbf" + d,  # a byte order mark
        lambda d: d + b"{}",  # something after the object
        lambda d: d.replace(b'"rows": 3', b'"rows": "three"', 1),
        lambda d: d.replace(b'"rows": 3', b'"rows": NaN', 1),
        lambda d: d.replace(b'"version": 3', b'"version": -1.5', 1),
        lambda d: d.replace(b'"tiny"', b'"\xff"', 1),  # not UTF-8
        lambda d: d.replace(b'"mode": "append"', b'"mode": "merge"', 1),
        lambda d: d.replace(b'"batches": [', b'"batches": {', 1),
        lambda d: d.replace(b"2026-12-04T19:30:05.123456Z", b"2026-12-04T19:30:05", 1),
        lambda d: d,  # undamaged
    ],
)
def test_a_damaged_pointer_fails_as_it_did_when_parsed_by_json_loads(
    tmp_path: Path, damage: object
) -> None:
    data = damage(_pointer_bytes(tmp_path))  # type: ignore[operator]
    assert _outcome(versions._parse, data) == _outcome(_by_objects, data)
