"""Invalid JSON is refused (NDJSON: quarantined), and messages name the user's
file (issue 13, items 6 and 7).

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity`` and decodes
``"\\ud800"`` to a lone surrogate, which no UTF-8 text can hold; JSON has
neither. A transcoded CSV (``encoding`` cp1252, latin-1, utf-16) is read from
a UTF-8 copy in the scratch folder, and its refusals named that copy; UTF-16
without a byte order mark was advised to try cp1252.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobforge.engine.pipeline import PipelineEngine
from jobforge.errors import SourceError
from jobforge.pipeline.config import Layer, PipelineConfig
from tests.cli_helpers import jobforge
from tests.engine_support import current_frame


@pytest.fixture
def engine(tmp_path: Path) -> PipelineEngine:
    return PipelineEngine(PipelineConfig(tmp_path / "data", entry_points=False))


def written(root: Path) -> list[str]:
    """Files under the data root but lock files and the engine's schemas."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and not p.name.endswith((".lock", ".holder"))
        and "schemas" not in p.relative_to(root).parts
    )


def refusal(engine: PipelineEngine, path: Path, **options: str) -> str:
    with pytest.raises(SourceError) as info:
        engine.ingest(path, "t", options=options)
    message = str(info.value)
    assert "\n" not in message
    assert written(engine.config.data_root) == []
    return message


def rows(engine: PipelineEngine, table: str = "t") -> list[tuple[object, ...]]:
    frame = current_frame(engine, Layer.STAGED, table).sort("_source_row")
    return frame.select("_source_row", *[c for c in frame.columns if not c.startswith("_")]).rows()


# -- item 6: invalid JSON ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"a":NaN}]', "record 1 (line 1 column 2): NaN is not valid JSON"),
        ('[{"a": 1},\n {"a": Infinity}]', "record 2 (line 2 column 2): Infinity is not valid JSON"),
        (
            '[{"a": 1}, {"b": [1, -Infinity]}]',
            "record 2 (line 1 column 12): -Infinity is not valid",
        ),
        ('{"rows": [{"a": NaN}]}', "record 1 of 'rows' (line 1 column 11): NaN is not valid JSON"),
    ],
)
def test_json_nan_and_infinities_are_refused(
    engine: PipelineEngine, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    message = refusal(engine, path)
    assert message.startswith(f"{path}: {expected}"), message
    assert message.endswith("(a JSON number is finite; write it as a string or null)")


def test_the_command_refuses_nan_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('[{"a": 1}, {"a": NaN}]', encoding="utf-8")
    done = jobforge("ingest", "bad.json", "--table", "t", cwd=tmp_path)
    assert done.code == 1
    assert done.err.strip().splitlines()[-1] == (
        "error: bad.json: record 2 (line 1 column 12): NaN is not valid JSON "
        "(a JSON number is finite; write it as a string or null)"
    )
    assert "Traceback" not in done.err
    assert written(tmp_path / "data") == []


def test_ndjson_lines_with_nan_or_a_lone_surrogate_are_quarantined(
    engine: PipelineEngine, tmp_path: Path
) -> None:
    path = tmp_path / "lines.ndjson"
    lines = [
        '{"a": "ok"}',
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": "\\ud800"}',
        '{"a": "\\ud83d\\ude00"}',
        '{"\\udfff": 1}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = engine.ingest(path, "t")
    assert rows(engine) == [(1, "ok"), (5, "\U0001f600")]
    assert result.quarantine_path is not None
    quarantined = pl.read_parquet(result.quarantine_path).sort("_source_row")
    assert quarantined.select("_source_row", "rule_id", "message", "row").rows() == [
        (
            2,
            "invalid_json",
            "invalid JSON: NaN is not a JSON value (a JSON number is finite)",
            lines[1],
        ),
        (
            3,
            "invalid_json",
            "invalid JSON: -Infinity is not a JSON value (a JSON number is finite)",
            lines[2],
        ),
        (
            4,
            "invalid_json",
            'the string "\\ud800" holds a lone surrogate (not a character; invalid JSON)',
            lines[3],
        ),
        (
            6,
            "invalid_json",
            'the string "\\udfff" holds a lone surrogate (not a character; invalid JSON)',
            lines[5],
        ),
    ]
    assert result.record is not None and result.record.row_count_in == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"a": "x"}, {"a": "\\ud800"}]', 'record 2 (line 1): the string "\\ud800" holds a lone'),
        ('[{"\\udc00x": 1}]', 'record 1 (line 1): the string "\\udc00x" holds a lone'),
        ('[{"a": [{"b": "\\ud83d"}]}]', 'record 1 (line 1): the string "\\ud83d" holds a lone'),
    ],
)
def test_json_lone_surrogates_are_refused_naming_file_and_record(
    engine: PipelineEngine, tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "surrogate.json"
    path.write_text(text, encoding="utf-8")
    assert refusal(engine, path) == (
        f"{path}: {expected} surrogate (not a character; invalid JSON)"
    )
    assert not list(engine.config.data_root.rglob("catalog/lineage/*/*.json"))


def test_a_surrogate_pair_is_one_character(engine: PipelineEngine, tmp_path: Path) -> None:
    path = tmp_path / "pair.json"
    path.write_text('[{"a": "\\ud83d\\ude00 \\u00e9"}]', encoding="utf-8")
    engine.ingest(path, "t")
    assert rows(engine) == [(1, "\U0001f600 \u00e9")]


@pytest.mark.parametrize("suffix", ["json", "ndjson"])
def test_only_records_with_a_repeated_key_name_the_key(
    engine: PipelineEngine, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"repeated.{suffix}"
    path.write_text(
        '[{"id": 1, "id": 2}]' if suffix == "json" else '{"id": 1, "id": 2}\n', encoding="utf-8"
    )
    assert refusal(engine, path) == (
        f"{path}: the records have no keys (no columns to stage); record 1 was set aside for "
        "quarantine: its key 'id' occurs more than once"
    )


# -- item 7: messages name the user's file -------------------------------------------------


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "utf-16"])
def test_a_transcoded_csv_is_named_in_its_refusals(
    engine: PipelineEngine, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / f"source-{encoding}.csv"
    path.write_bytes('id,name\n1,Zo\u00eb\n2,"never closed\n3,x\n'.encode(encoding))
    message = refusal(engine, path, encoding=encoding)
    assert message == (
        f"{path}: malformed CSV in the record starting on line 3: unexpected end of data "
        "(a quoted field is never closed)"
    )
    assert "jobforge-tmp" not in message and "source.csv" not in message

    nul = tmp_path / f"nul-{encoding}.csv"
    nul.write_bytes("id,name\n1,Zo\u00eb\n2,a\x00b\n".encode(encoding))
    assert refusal(engine, nul, encoding=encoding).startswith(
        f"{nul}: line 3 contains a NUL character ("
    )

    wide = tmp_path / f"wide-{encoding}.csv"
    wide.write_bytes("a,b,c\n1,2,3\n".encode(encoding))
    assert refusal(engine, wide, encoding=encoding, max_columns="2").startswith(
        f"{wide}: the header has 3 columns, more than max_columns = 2"
    )


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_named(
    engine: PipelineEngine, tmp_path: Path, codec: str
) -> None:
    advice = (
        f"it looks like {codec.upper()} text without a byte order mark (NUL bytes at every "
        f'other position); set the reader option encoding = "{codec}"'
    )
    accented = tmp_path / "accented.csv"
    accented.write_bytes("id,name\n1,Zo\u00eb\n".encode(codec))
    assert refusal(engine, accented) == f"{accented}: not valid UTF-8 text: {advice}"
    plain = tmp_path / "plain.csv"
    plain.write_bytes("id,name\n1,Ann\n".encode(codec))
    message = refusal(engine, plain)
    assert message.startswith(f"{plain}: line 1 contains a NUL character")
    assert message.endswith(f"({advice})")
    data = tmp_path / "data.json"
    data.write_bytes('[{"name": "Zo\u00eb"}]'.encode(codec))
    assert refusal(engine, data) == f"{data}: not UTF-8 text: {advice}"

    engine.ingest(accented, "ok", options={"encoding": codec})
    assert rows(engine, "ok") == [(1, "1", "Zo\u00eb")]


def test_cp1252_text_is_not_taken_for_utf16(engine: PipelineEngine, tmp_path: Path) -> None:
    path = tmp_path / "cp.csv"
    path.write_bytes("id,name\n1,Zo\u00eb\n".encode("cp1252"))
    assert refusal(engine, path) == (
        f"{path}: not valid UTF-8 text on line 2 (byte eb); set the reader option encoding "
        '(e.g. encoding = "cp1252")'
    )
