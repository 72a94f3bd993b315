"""Re-derive the gold rows of this evidence pack from the source records it holds.

Run it in the unzipped pack's folder with nothing but Python and DuckDB
(``pip install duckdb``)::

    python reproduce.py

It reads ``evidence.json``, parses the source records in ``sources/`` with the
standard library's CSV reader, applies the declarations recorded there (bronze
renames and casts, silver rules and de-duplication, each gold table's SQL, in
order) with DuckDB, and compares the result with ``gold_rows.json``, the rows
jobforge published. It prints every row, then ``all N rows match`` and exits 0,
or names each row that no longer matches (and which values differ) and exits 1.

Before that it checks the lineage records with the standard library only: each
record's sha256 recomputed as jobforge seals it, each table's chain from
position 1 to its chain head, each input link, each source's sha256 against its
ingestion record (and the file's bytes, where the pack holds the whole file),
and, with the ``cryptography`` package and a public key (``--public-key FILE``,
else the one in the pack), each signature; a record that does not hold is named
on a ``CHAIN`` line and the exit is 1.

The script does not import jobforge: an auditor can read all of it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent

TYPES = {"int": "BIGINT", "float": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}
"""The declared cast types this script knows, as DuckDB types."""
INTEGER_TEXT = "^[+-]?[0-9]+$"
"""An int cast takes whole numbers only (``1.0`` does not parse, as in jobforge)."""


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_records(source: dict[str, Any]) -> tuple[list[str], list[list[str | None]]]:
    """The header and the records of one source's records file (empty cell: null)."""
    encoding = source["encoding"]
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # a byte order mark before the header is not part of it
    text = (HERE / source["records_file"]).read_bytes().decode(encoding)
    rows = [
        r
        for r in csv.reader(
            io.StringIO(text, newline=""),
            delimiter=source["delimiter"],
            quotechar=source["quote"],
        )
        if r
    ]
    header, records = rows[0], rows[1:]
    if len(records) != len(source["records"]):
        sys.exit(
            f"{source['records_file']}: {len(records)} records, "
            f"evidence.json lists {len(source['records'])}"
        )
    return header, [[v if v != "" else None for v in r] for r in records]


def stage(con: duckdb.DuckDBPyConnection, source: dict[str, Any]) -> None:
    """The staged rows of one source: its records, all text, with provenance."""
    header, records = read_records(source)
    table = ident("staged__" + source["table"])
    columns = ", ".join(f"{ident(c)} VARCHAR" for c in header)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ({columns}, _source_file VARCHAR, "
        "_ingested_at TIMESTAMPTZ, _batch_id VARCHAR, _source_row BIGINT)"
    )
    marks = ", ".join("?" for _ in range(len(header) + 4))
    for record, meta in zip(records, source["records"], strict=True):
        values = [*record, source["source_file"], source["ingested_at"], source["batch_id"]]
        con.execute(f"INSERT INTO {table} VALUES ({marks})", [*values, meta["source_row"]])


def cast_expression(column: str, cast: dict[str, Any]) -> tuple[str, str]:
    """The bronze value of ``column`` and the condition under which its text
    does not parse (the row would go to quarantine)."""
    kind = TYPES.get(cast["type"])
    if kind is None:
        sys.exit(f"cast of {column}: type {cast['type']!r} is not one this script reproduces")
    text = f"trim({ident(column)})"
    nulls = [literal(v) for v in cast.get("null_values", [])]
    is_null = f"{ident(column)} IS NULL OR {text} = ''" + (
        f" OR {text} IN ({', '.join(nulls)})" if nulls else ""
    )
    if cast["type"] == "bool":
        true = ", ".join(literal(v.lower()) for v in cast["true_values"])
        false = ", ".join(literal(v.lower()) for v in cast["false_values"])
        parsed = (
            f"CASE WHEN lower({text}) IN ({true}) THEN true "
            f"WHEN lower({text}) IN ({false}) THEN false END"
        )
    elif cast["type"] == "int":
        parsed = (
            f"CASE WHEN regexp_matches({text}, {literal(INTEGER_TEXT)}) "
            f"THEN TRY_CAST({text} AS BIGINT) END"
        )
    else:
        parsed = f"TRY_CAST({text} AS {kind})"
    value = f"CASE WHEN {is_null} THEN NULL ELSE {parsed} END"
    return value, f"NOT ({is_null}) AND ({parsed}) IS NULL"


def bronze(con: duckdb.DuckDBPyConnection, name: str, spec: dict[str, Any]) -> list[str]:
    """Renames and casts; returns a line for each record whose text does not parse."""
    columns = [
        r[0]
        for r in con.execute(f"DESCRIBE {ident('staged__' + name)}").fetchall()
        if not r[0].startswith("_")
    ]
    select, failures = [], []
    for column in columns:
        target = spec["rename"].get(column, column)
        cast = spec["cast"].get(target)
        if cast is None:
            select.append(f"{ident(column)} AS {ident(target)}")
            continue
        value, fails = cast_expression(column, cast)
        select.append(f"{value} AS {ident(target)}")
        failures.append((target, column, fails))
    problems = []
    for target, column, fails in failures:
        for (row,) in con.execute(
            f"SELECT _source_row FROM {ident('staged__' + name)} WHERE {fails}"
        ).fetchall():
            problems.append(f"{name} record {row}: {column!r} does not parse as {target}'s type")
    rejected = " OR ".join(f"({fails})" for _, _, fails in failures) or "false"
    con.execute(
        f"CREATE TABLE {ident('bronze__' + name)} AS SELECT {', '.join(select)}, "
        "_source_file, _ingested_at, _batch_id, _source_row "
        f"FROM {ident('staged__' + name)} WHERE NOT ({rejected})"
    )
    return problems


def silver(
    con: duckdb.DuckDBPyConnection,
    name: str,
    spec: dict[str, Any],
    marked: dict[tuple[str, int], int],
) -> tuple[list[str], list[str]]:
    """Rules of severity ``error`` (a null result passes), then de-duplication
    within each batch (the first record of each key is kept); returns a line per
    row dropped by a rule, and one per record ``marked`` (batch, record -> the
    record jobforge kept instead) that is not re-derived as that duplicate."""
    table = ident("bronze__" + name)
    problems = []
    wrong = []
    keep = []
    for rule in spec["rules"]:
        if rule["severity"] != "error":
            continue
        condition = f"({rule['expression']}) IS NOT FALSE"
        keep.append(condition)
        for (row,) in con.execute(
            f"SELECT _source_row FROM {table} WHERE NOT ({condition})"
        ).fetchall():
            problems.append(f"{name} record {row}: fails rule {rule['id']!r}")
    where = " AND ".join(keep) or "true"
    dedupe = spec["dedupe"]
    if isinstance(dedupe, list):
        partition = ", ".join(ident(c) for c in dedupe)
    elif dedupe == "row":
        data = [
            r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if not r[0].startswith("_")
        ]
        partition = ", ".join(ident(c) for c in data)
    else:
        partition = "_source_row"
    ranked = (
        f"SELECT *, row_number() OVER (PARTITION BY _batch_id, {partition} "
        "ORDER BY _source_row) AS _rank, first_value(_source_row) OVER "
        f"(PARTITION BY _batch_id, {partition} ORDER BY _source_row) AS _first "
        f"FROM {table} WHERE {where}"
    )
    con.execute(
        f"CREATE TABLE {ident('silver__' + name)} AS SELECT * EXCLUDE (_rank, _first), "
        "'silver' AS _layer, TIMESTAMPTZ '2000-01-01 00:00:00+00' AS _processed_at FROM "
        f"({ranked}) WHERE _rank = 1"
    )
    derived = {
        (batch, row): first
        for batch, row, first in con.execute(
            f"SELECT _batch_id, _source_row, _first FROM ({ranked}) WHERE _rank > 1"
        ).fetchall()
    }
    for (batch, row), kept in sorted(marked.items()):
        again = derived.get((batch, row))
        if again == kept:
            print(
                f"{name} record {row} (batch {batch[:8]}): a duplicate of record {kept}, "
                "dropped as published"
            )
        else:
            found = "kept" if again is None else f"a duplicate of record {again}"
            wrong.append(
                f"{name} record {row} (batch {batch[:8]}): published as a duplicate of "
                f"record {kept}, re-derived as {found}"
            )
    return problems, wrong


def gold(con: duckdb.DuckDBPyConnection, step: dict[str, Any], built: set[str]) -> None:
    """One gold table: its inputs as views named after them (a silver input gets
    the ``_lineage`` column jobforge adds), then its SQL."""
    for name in step["inputs"]:
        if name in built:
            body = f"SELECT * FROM {ident('gold__' + name)}"
        else:
            body = (
                f"SELECT *, [concat({literal(name + ':')}, _batch_id, ':', "
                f"CAST(_source_row AS VARCHAR))] AS _lineage FROM {ident('silver__' + name)}"
            )
        con.execute(f"CREATE OR REPLACE VIEW {ident(name)} AS {body}")
    con.execute(f"CREATE TABLE {ident('gold__' + step['name'])} AS {step['sql']}")
    built.add(step["name"])


def changed_members() -> list[str]:
    """A line for each member whose bytes differ from its ``SHA256SUMS`` line: the
    pack was changed after jobforge wrote it (the rows are re-derived anyway)."""
    lines = []
    for line in (HERE / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        member = HERE / name
        if not member.is_file():
            lines.append(f"{name} is missing from the pack")
        elif hashlib.sha256(member.read_bytes()).hexdigest() != digest:
            lines.append(f"{name} differs from its SHA256SUMS line")
    return lines


def record_sha256(data: dict[str, Any]) -> str:
    """A record's sha256 as jobforge seals it: its canonical JSON (sorted keys, no
    spaces, UTF-8), ``signature`` left out."""
    fields = {k: v for k, v in data.items() if k != "signature"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def load_records(evidence: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every lineage record of the pack (member path -> parsed JSON), and a line
    for each that cannot be read."""
    records: dict[str, dict[str, Any]] = {}
    problems = []
    for chain in evidence["chains"].values():
        for path in chain["records"]:
            try:
                data = json.loads((HERE / path).read_bytes())
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: unreadable: {exc}")
                continue
            if not isinstance(data, dict):
                problems.append(f"{path}: unreadable: not a JSON object")
                continue
            records[path] = data
    return records, problems


def check_chains(
    evidence: dict[str, Any], records: dict[str, dict[str, Any]]
) -> tuple[list[str], dict[str, int]]:
    """Walk each table's chain in the pack: positions 1, 2, 3... each record
    holding the sha256 of the one before, the last one the chain head's, every
    input link the sha256 of the record it names. Returns a line per problem and
    the counts of what was checked."""
    problems = []
    hashes = {path: record_sha256(data) for path, data in records.items()}
    by_id = {
        str(data.get("transition_id") or data.get("ingestion_id")): path
        for path, data in records.items()
    }
    counts = {"tables": 0, "records": len(records), "links": 0, "inputs": 0, "heads": 0}
    for table, chain in evidence["chains"].items():
        counts["tables"] += 1
        listed = [p for p in chain["records"] if p in records]
        unsealed = [p for p in listed if not isinstance(records[p].get("chain_position"), int)]
        problems += [f"{p}: unsealed: no chain position, cannot be checked" for p in unsealed]
        ordered = sorted(
            (p for p in listed if p not in unsealed), key=lambda p: records[p]["chain_position"]
        )
        previous: str | None = None
        for expected, path in enumerate(ordered, 1):
            data = records[path]
            position = data["chain_position"]
            if position != expected:
                problems.append(
                    f"{path}: removed or reordered: at chain position {position}, "
                    f"expected {expected}"
                )
            held = data.get("previous_record_sha256")
            if previous is None and held is not None and position == 1:
                problems.append(f"{path}: edited: the first record names a previous record")
            elif previous is not None:
                counts["links"] += 1
                if held != hashes[previous]:
                    problems.append(
                        f"{previous}: edited: its sha256 is not the one the next record "
                        f"({path}) holds"
                    )
            previous = path
        head_path = chain.get("head")
        if head_path is None:
            if ordered:
                problems.append(f"{table}: the pack holds no chain head")
            continue
        try:
            head = json.loads((HERE / head_path).read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"{head_path}: unreadable: {exc}")
            continue
        counts["heads"] += 1
        last = ordered[-1] if ordered else None
        if last is None or head.get("position") != records[last]["chain_position"]:
            problems.append(
                f"{head_path}: the head is at position {head.get('position')}, the last record "
                f"in the pack at {records[last]['chain_position'] if last else 'none'}"
            )
        elif head.get("record_sha256") != hashes[last]:
            problems.append(f"{last}: edited: its sha256 is not the one the chain head holds")
    for path, data in records.items():
        for input_id, held in (data.get("input_record_sha256") or {}).items():
            counts["inputs"] += 1
            source = by_id.get(input_id)
            if source is None:
                problems.append(f"{path}: its input record {input_id} is not in the pack")
            elif hashes[source] != held:
                problems.append(
                    f"{source}: edited: its sha256 is not the one its reader {path} holds"
                )
    return problems, counts


def check_sources(evidence: dict[str, Any], records: dict[str, dict[str, Any]]) -> list[str]:
    """Each source's sha256 against the ingestion record of its batch; where the pack
    holds the whole file, the file's bytes against it. Returns lines: problems
    start with ``MISMATCH``."""
    lines = []
    ingestions = {
        d.get("batch_id"): d for d in records.values() if d.get("record_type") == "ingestion"
    }
    for source in evidence["sources"]:
        name = source["records_file"]
        ingestion = ingestions.get(source["batch_id"])
        if ingestion is None:
            lines.append(f"MISMATCH {name}: no ingestion record of its batch in the pack")
            continue
        if ingestion.get("source_sha256") != source["sha256"]:
            lines.append(
                f"MISMATCH {name}: evidence.json gives sha256 {source['sha256'][:12]}..., its "
                f"ingestion record {str(ingestion.get('source_sha256'))[:12]}..."
            )
            continue
        if not source.get("whole_file"):
            lines.append(
                f"{name}: file sha256 not checked: the pack holds {len(source['records'])} of "
                f"its {source['file_records']} records (hash your copy of {source['file_name']})"
            )
            continue
        digest = hashlib.sha256((HERE / name).read_bytes()).hexdigest()
        if digest != source["sha256"]:
            lines.append(
                f"MISMATCH {name}: the whole file has sha256 {digest[:12]}..., its ingestion "
                f"record {source['sha256'][:12]}..."
            )
        else:
            lines.append(f"{name}: the whole file, sha256 matches its ingestion record")
    return lines


def check_signatures(
    evidence: dict[str, Any], records: dict[str, dict[str, Any]], key_file: Path | None
) -> tuple[list[str], str]:
    """Each record's ed25519 signature, when the ``cryptography`` package is
    importable and a public key is given (``--public-key``) or in the pack.
    Returns a line per problem and what was checked, said plainly either way."""
    if key_file is None and evidence.get("public_key"):
        key_file = HERE / evidence["public_key"]
    if key_file is None:
        return [], "signatures not checked: no public key (python reproduce.py --public-key FILE)"
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return [], "signatures not checked: the cryptography package is not installed"
    try:
        key = serialization.load_pem_public_key(key_file.read_bytes())
    except (OSError, ValueError) as exc:
        return [f"{key_file.name}: not a PEM public key ({exc})"], "signatures not checked"
    if not isinstance(key, Ed25519PublicKey):
        return [f"{key_file.name}: not an ed25519 public key"], "signatures not checked"
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw).hexdigest()
    problems = []
    for path, data in sorted(records.items()):
        signature = data.get("signature")
        if not isinstance(signature, str):
            problems.append(f"{path}: signature: the record is not signed")
        elif data.get("signing_key_id") != key_id:
            problems.append(f"{path}: signature: signed by another key than {key_file.name}")
        else:
            try:
                key.verify(bytes.fromhex(signature), record_sha256(data).encode("ascii"))
            except (InvalidSignature, ValueError):
                problems.append(f"{path}: signature: does not hold: edited")
    return problems, f"{len(records)} signatures checked with {key_file.name}"


def plain(value: Any) -> Any:
    """A value as it reads in JSON (the form of ``gold_rows.json``)."""
    return json.loads(json.dumps(value, default=str))


def check_records(evidence: dict[str, Any], key_file: Path | None) -> list[str]:
    """Print what the chain, source and signature checks found; return the problems."""
    records, problems = load_records(evidence)
    chain_problems, counts = check_chains(evidence, records)
    problems += chain_problems
    verdict = "hold" if not problems else f"do not hold ({len(problems)} problem(s))"
    print(
        f"chain: {counts['records']} lineage record(s) of {counts['tables']} table(s) {verdict}: "
        f"{counts['links']} previous-record link(s), {counts['inputs']} input link(s), "
        f"{counts['heads']} chain head(s) checked"
    )
    for line in check_sources(evidence, records):
        if line.startswith("MISMATCH"):
            problems.append(line.removeprefix("MISMATCH "))
        else:
            print(line)
    signature_problems, said = check_signatures(evidence, records, key_file)
    problems += signature_problems
    print(said)
    for line in problems:
        print(f"  CHAIN {line}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--public-key",
        type=Path,
        default=None,
        help="your copy of the ed25519 public key (PEM) to check the records' signatures with",
    )
    options = parser.parse_args()
    evidence = json.loads((HERE / "evidence.json").read_text(encoding="utf-8"))
    published = json.loads((HERE / evidence["gold_rows"]).read_text(encoding="utf-8"))
    print(f"gold.{evidence['table']} where {evidence['where']}: {len(published['rows'])} row(s)")
    record_problems = check_records(evidence, options.public_key)
    con = duckdb.connect()
    problems: list[str] = []
    duplicates_wrong: list[str] = []
    for source in evidence["sources"]:
        stage(con, source)
    for name, spec in evidence["bronze"].items():
        problems += bronze(con, name, spec)
    for name, spec in evidence["silver"].items():
        marked = {
            (source["batch_id"], record["source_row"]): record["duplicate_of"]
            for source in evidence["sources"]
            if source["table"] == name
            for record in source["records"]
            if record.get("duplicate_of") is not None
        }
        dropped, wrong = silver(con, name, spec, marked)
        problems += dropped
        duplicates_wrong += wrong
    built: set[str] = set()
    for step in evidence["gold"]:
        gold(con, step, built)
    table = evidence["table"]
    columns = published["columns"]
    select = ", ".join(ident(c) for c in columns)
    derived: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    cursor = con.execute(f"SELECT {select}, _lineage FROM {ident('gold__' + table)}")
    for *values, lineage in cursor.fetchall():
        row = dict(zip(columns, plain(values), strict=True))
        derived.setdefault(tuple(sorted(lineage)), []).append(row)
    mismatched = 0
    for number, row in enumerate(published["rows"], 1):
        values = row["values"]
        print(f"row {number}: " + ", ".join(f"{c}={values[c]!r}" for c in columns))
        candidates = derived.get(tuple(sorted(row["lineage"])), [])
        if values in candidates:
            continue
        mismatched += 1
        label = f"row {number} ({columns[0]}={values[columns[0]]!r})"
        if not candidates:
            print(f"  MISMATCH {label}: not re-derived from its source records")
        for other in candidates:
            differ = [c for c in columns if other[c] != values[c]]
            print(
                f"  MISMATCH {label}: "
                + ", ".join(f"{c} is {other[c]!r}, published {values[c]!r}" for c in differ)
            )
    for line in [*changed_members(), *problems]:
        print(f"  note: {line}")
    for line in duplicates_wrong:
        print(f"  MISMATCH {line}")
    if mismatched:
        print(f"{mismatched} of {len(published['rows'])} row(s) do not match")
    else:
        print(f"all {len(published['rows'])} row(s) match the source records")
    if duplicates_wrong:
        print(f"{len(duplicates_wrong)} duplicate record(s) not re-derived as published")
    if record_problems:
        print(f"the lineage records do not hold: {len(record_problems)} problem(s)")
    return 1 if mismatched or duplicates_wrong or record_problems else 0


if __name__ == "__main__":
    sys.exit(main())
