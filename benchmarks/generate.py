"""A deterministic occupational dataset for the benchmark.

``python benchmarks/generate.py --rows N --out FILE.csv [--seed 8]`` writes N
data rows (plus a header) of 12 columns and, beside it, ``FILE.csv.json`` with
what was generated (rows, exact duplicates, rule-breaking rows, empty wages),
which the runner checks jobforge's counts against.

The file is written in chunks of :data:`CHUNK_ROWS` rows, so memory does not
grow with N. Every chunk draws from its own ``random.Random`` seeded with
``(seed, chunk number)``: the same arguments give the same bytes.

Per chunk of T rows:

- ``T * 2 // 100`` rows are exact copies of an earlier row of the same chunk
  (never of a rule-breaking row), placed at a random later position;
- ``base * 5 // 1000`` of the ``base = T - copies`` original rows have a negative
  median wage (they break the silver rule ``median_wage >= 0``);
- the original rows are distinct from each other (each ``notes`` text carries
  the row's own respondent number), so the copies are exactly the duplicates.

``--messy`` (off by default; without it the bytes are unchanged) puts a line
break inside about 1 in :data:`MESSY_PER` ``notes`` values (``"phrase\nsee
(#N)"``, quoted), so that the file is one polars does not read exactly as
Python's ``csv`` module: jobforge reads it with the ``csv`` module. The counts
are unchanged (the respondent number still makes each original distinct; a copy
copies its original's text); the meta adds ``"messy": true`` and
``multiline_notes``. :func:`dataset_name` gives the runner's file names.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import polars as pl

GENERATOR_VERSION = 2
CHUNK_ROWS = 250_000
DUPLICATE_PERCENT = 2
BAD_PER_MILLE = 5
EMPTY_WAGE_PERCENT = 3
MESSY_PER = 1000

COLUMNS = (
    "noc_code",
    "occupation_title",
    "broad_category",
    "teer",
    "province",
    "reference_year",
    "employment",
    "median_wage",
    "hours_per_week",
    "survey_date",
    "unionized",
    "notes",
)
"""The header. Typed (for the benchmark's bronze casts): see :data:`CASTS`."""

CASTS = {
    "broad_category": "int",
    "teer": "int",
    "reference_year": "int",
    "employment": "int",
    "median_wage": "float",
    "hours_per_week": "float",
    "survey_date": "date",
    "unionized": "bool",
}
"""Every typed column and its bronze cast; ``noc_code`` stays text (leading zeros)."""

TITLES = (
    "Legislators",
    "Senior managers - financial, communications and other business services",
    "Financial managers",
    "Human resources managers",
    "Computer and information systems managers",
    "Software engineers and designers",
    "Civil engineers",
    "Registered nurses and registered psychiatric nurses",
    "Licensed practical nurses",
    "Pharmacists",
    "Elementary school and kindergarten teachers",
    "Secondary school teachers",
    "Early childhood educators and assistants",
    "Police officers (except commissioned)",
    "Firefighters",
    "Cooks",
    "Bakers",
    "Butchers - retail and wholesale",
    "Retail salespersons and visual merchandisers",
    "Cashiers",
    "Store shelf stockers, clerks and order fillers",
    "Truck drivers",
    "Bus drivers, subway operators and other transit operators",
    "Carpenters",
    "Electricians (except industrial and power system)",
    "Plumbers",
    "Welders and related machine operators",
    "Heavy equipment operators",
    "Agricultural service contractors and farm supervisors",
    "General farm workers",
    "Nursery and greenhouse labourers",
    "Fishing vessel deckhands",
    "Janitors, caretakers and heritage building superintendents",
    "Light duty cleaners",
    "Security guards and related security service occupations",
    "Administrative assistants",
    "Accounting technicians and bookkeepers",
    "Customer services representatives - financial institutions",
    "Graphic designers and illustrators",
    "Translators, terminologists and interpreters",
)

PROVINCES = ("NL", "PE", "NS", "NB", "QC", "ON", "MB", "SK", "AB", "BC", "YT", "NT", "NU")

PHRASES = (
    "hours vary, often weekends",
    'described as "steady" work',
    "seasonal; peaks in summer",
    "includes overtime, not tips",
    "remote, part of the week",
    "shift work, nights",
    "employer's figure, rounded",
    'union rate applies, "per diem" extra',
    "apprentice, second year",
    "self-reported, unverified",
    "two jobs, main one counted",
    "contract ends in spring",
    "benefits: dental, vision",
    "wage is approximate",
    "new hire, probation",
    "on-call, irregular",
    "bilingual position",
    "travel required, 30%",
    "temporary, full-time",
    "no comment",
)
"""Free text: most with commas (so the CSV quotes the field), some with an
apostrophe, some with double quotes (written doubled inside a quoted field)."""


def _pick(index: pl.Expr, values: tuple[str, ...]) -> pl.Expr:
    return index.replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def _chunk(
    rng: random.Random, first_respondent: int, rows: int, messy: bool = False
) -> tuple[pl.DataFrame, dict]:
    """``rows`` rows; the original rows are numbered from ``first_respondent``.
    ``messy``: a line break in about 1 in :data:`MESSY_PER` notes (drawn from
    digits of ``b`` no other column uses, so no extra random draw)."""
    copies = rows * DUPLICATE_PERCENT // 100
    base = rows - copies
    bad = base * BAD_PER_MILLE // 1000
    bits = rng.getrandbits
    a = pl.Series("a", [bits(62) for _ in range(base)], dtype=pl.Int64)
    b = pl.Series("b", [bits(62) for _ in range(base)], dtype=pl.Int64)
    bad_rows = sorted(rng.sample(range(base), bad))
    is_bad = [False] * base
    for index in bad_rows:
        is_bad[index] = True

    def digits(series: pl.Expr, every: int, modulus: int) -> pl.Expr:
        return (series // every) % modulus

    a_, b_ = pl.col("a"), pl.col("b")
    broad = digits(a_, 1, 10)
    teer = digits(a_, 10, 6)
    cents = digits(b_, 1, 8000) + 1500
    wage_text = pl.format(
        "{}{}.{}",
        pl.when(pl.col("bad")).then(pl.lit("-")).otherwise(pl.lit("")),
        (cents // 100).cast(pl.String),
        (cents % 100).cast(pl.String).str.zfill(2),
    )
    empty_wage = (digits(b_, 8000, 100) < EMPTY_WAGE_PERCENT) & ~pl.col("bad")
    hours = digits(b_, 800_000, 251) + 200
    year = digits(a_, 31_200_000, 10) + 2015
    phrase = _pick(digits(b_, 134_937_600_000, len(PHRASES)), PHRASES)
    multiline = pl.lit(False)
    if messy:
        multiline = digits(b_, 134_937_600_000 * len(PHRASES), MESSY_PER) == 0
    frame = (
        pl.DataFrame([a, b, pl.Series("bad", is_bad, dtype=pl.Boolean)])
        .with_row_index("i")
        .select(
            pl.concat_str(
                broad.cast(pl.String),
                teer.cast(pl.String),
                digits(a_, 600, 1000).cast(pl.String).str.zfill(3),
            ).alias("noc_code"),
            _pick(digits(a_, 60_000, len(TITLES)), TITLES).alias("occupation_title"),
            broad.alias("broad_category"),
            teer.alias("teer"),
            _pick(digits(a_, 2_400_000, len(PROVINCES)), PROVINCES).alias("province"),
            year.alias("reference_year"),
            digits(a_, 312_000_000, 50_000).alias("employment"),
            pl.when(empty_wage).then(None).otherwise(wage_text).alias("median_wage"),
            pl.format("{}.{}", (hours // 10).cast(pl.String), (hours % 10).cast(pl.String)).alias(
                "hours_per_week"
            ),
            pl.format(
                "{}-{}-{}",
                year.cast(pl.String),
                (digits(b_, 200_800_000, 12) + 1).cast(pl.String).str.zfill(2),
                (digits(b_, 2_409_600_000, 28) + 1).cast(pl.String).str.zfill(2),
            ).alias("survey_date"),
            pl.when(digits(b_, 67_468_800_000, 2) == 1)
            .then(pl.lit("true"))
            .otherwise(pl.lit("false"))
            .alias("unionized"),
            pl.format(
                "{}{}(#{})",
                phrase,
                pl.when(multiline).then(pl.lit("\nsee ")).otherwise(pl.lit(" ")),
                pl.col("i").cast(pl.Int64) + first_respondent,
            ).alias("notes"),
        )
    )
    # Copies of good rows, each placed at a random position after its original.
    good = [i for i in range(base) if not is_bad[i]]
    sources = [rng.choice(good) for _ in range(copies)]
    keys = [s + (base - s) * (1.0 - rng.random()) for s in sources]
    order = pl.DataFrame(
        {
            "src": pl.Series(list(range(base)) + sources, dtype=pl.Int64),
            "key": pl.Series([float(i) for i in range(base)] + keys, dtype=pl.Float64),
            "copy": pl.Series([False] * base + [True] * copies, dtype=pl.Boolean),
        }
    ).sort(["key", "copy"], maintain_order=True)
    out = frame[order.get_column("src")]
    stats = {
        "rows": rows,
        "duplicates": copies,
        "bad_wage_rows": bad,
        "empty_wages": int(out.get_column("median_wage").null_count()),
    }
    if messy:
        stats["multiline_notes"] = int(out.get_column("notes").str.contains("\n").sum())
    return out, stats


def dataset_name(rows: int, seed: int = 8, messy: bool = False) -> str:
    """The runner's file name for a dataset:
    ``occupations-<rows>-seed<seed>-v<version>[-messy].csv``."""
    return f"occupations-{rows}-seed{seed}-v{GENERATOR_VERSION}{'-messy' if messy else ''}.csv"


def generate(path: Path, rows: int, seed: int = 8, messy: bool = False) -> dict:
    """Write ``rows`` rows to ``path`` (CSV, UTF-8) and return what was generated.

    The returned dict is also written to ``<path>.json``. ``messy``: see the
    module's docstring.
    """
    totals = {"rows": 0, "duplicates": 0, "bad_wage_rows": 0, "empty_wages": 0}
    if messy:
        totals["multiline_notes"] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as handle:
        handle.write((",".join(COLUMNS) + "\n").encode())
        chunk_no = 0
        while totals["rows"] < rows:
            size = min(CHUNK_ROWS, rows - totals["rows"])
            rng = random.Random(f"jobforge-benchmark:{seed}:{chunk_no}")
            first = totals["rows"] - totals["duplicates"] + 1
            frame, stats = _chunk(rng, first, size, messy)
            frame.write_csv(handle, include_header=False)
            for key, value in stats.items():
                totals[key] += value
            chunk_no += 1
    meta = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "columns": list(COLUMNS),
        "casts": CASTS,
        **({"messy": True} if messy else {}),
        **totals,
        "bytes": tmp.stat().st_size,
    }
    tmp.replace(path)
    path.with_name(path.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--messy",
        action="store_true",
        help=f"a line break inside about 1 in {MESSY_PER} notes values (the csv-module path)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    meta = generate(args.out, args.rows, args.seed, args.messy)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
