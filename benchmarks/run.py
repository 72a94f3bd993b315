"""The benchmark: a full jobforge run against the floor of a plain CSV -> parquet copy.

``python benchmarks/run.py --rows N`` generates (once, under ``--workdir``) the
dataset of :mod:`generate`, then measures side by side, each run in its own
process:

- ``floor``: ``pl.scan_csv(csv).sink_parquet(out, compression="zstd")``;
- ``copies``: the four layer copies and nothing else, each a plain polars
  streaming plan written like jobforge's polars executor writes its layers
  (staged lz4 with null counts only, the others zstd level 1): the CSV as
  text with the provenance values to staged, staged cast to bronze, bronze
  filtered by the wage rule to silver, silver with the derived column
  to gold. No CSV check, checksum, de-duplication, quarantine, row lineage,
  ledger, catalog or lineage record: the cost of the bytes of four layers,
  the bound below which no full run can go (``copies_ratio`` is its ratio
  to the floor);
- ``jobforge``: ``PipelineEngine.run_full_pipeline`` of the CSV: staged, bronze
  (a cast of every typed column), silver (whole-row de-duplication and the
  error rule ``median_wage IS NULL OR median_wage >= 0``), a gold table with a
  derived column (a polars function by default, ``--gold sql`` for the same in
  DuckDB SQL), with the catalog and lineage written.

``--messy`` measures a dataset whose notes sometimes hold a line break inside
the quotes: jobforge reads it with Python's ``csv`` module instead of polars'
scanner (the runner checks which reader was used).

Seconds are the wall time of the work inside the child (after its imports),
the median of ``--repeat`` runs after ``--warmup`` runs (each run also shows
its CPU seconds, all threads, which a busy machine disturbs less); peak RSS is
the child process's high water mark (``ru_maxrss`` from ``wait4``, read by a
fresh launcher so that this process's own memory does not count in:
:mod:`jobforge.testing.usage`), the maximum over the timed runs.
Every jobforge run's counts are checked against what the generator made
(staged rows, quarantined, de-duplicated, silver and gold rows, the parquet
footers, the catalog entries and lineage records) before anything is reported;
the last run's silver and gold are also checked row by row (in this process,
not measured). The last line printed is::

    rows=N floor_s=... jobforge_s=... ratio=... floor_peak_mib=... jobforge_peak_mib=...

``--project`` measures a project of many small tables instead (``--tables``,
``--batches``): see :mod:`project_run`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from jobforge.testing.usage import run_measured  # noqa: E402

TABLE = "occupations"
GOLD = "occupation_wages"
WAGE_RULE = "median_wage IS NULL OR median_wage >= 0"
GOLD_SQL = (
    f"SELECT *, round(median_wage * hours_per_week * 52, 2) AS annual_wage_estimate FROM {TABLE}"
)
STAGED_WRITE = {
    "compression": "lz4",
    "statistics": {"min": False, "max": False, "distinct_count": False, "null_count": True},
}
"""How the polars executor writes staged (``jobforge_polars.exprs.STAGED_SINK``, which a
benchmark may not import; tests/test_staged_encoding.py checks that they agree)."""


def gold_python(frames: dict) -> object:
    """The gold table as a polars function: the same rows and derived column as
    :data:`GOLD_SQL`."""
    import polars as pl

    return frames[TABLE].with_columns(
        (pl.col("median_wage") * pl.col("hours_per_week") * 52)
        .round(2)
        .alias("annual_wage_estimate")
    )


class CheckFailed(Exception):
    """A jobforge run produced counts that do not match the generated data."""


# -- the children ------------------------------------------------------------------
def child_floor(csv: Path, out: Path) -> dict:
    import polars as pl

    start, cpu = time.perf_counter(), time.process_time()
    pl.scan_csv(csv).sink_parquet(out / "floor.parquet", compression="zstd")
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}


def child_copies(csv: Path, out: Path) -> dict:
    import polars as pl

    from jobforge.engine.gold_sql import WRITE as write  # as jobforge writes its layers

    kinds = {
        "int": lambda c: pl.col(c).cast(pl.Int64, strict=False),
        "float": lambda c: pl.col(c).cast(pl.Float64, strict=False),
        "date": lambda c: pl.col(c).str.to_date("%Y-%m-%d", strict=False),
        "bool": lambda c: pl.col(c).str.to_lowercase() == "true",
    }
    start, cpu = time.perf_counter(), time.process_time()
    pl.scan_csv(
        csv, infer_schema=False, row_index_name="_source_row", row_index_offset=1
    ).with_columns(
        pl.lit(str(csv)).alias("_source_file"),
        pl.lit("batch").alias("_batch_id"),
        pl.lit("staged").alias("_layer"),
    ).sink_parquet(out / "staged.parquet", **STAGED_WRITE)
    pl.scan_parquet(out / "staged.parquet").with_columns(
        *[kinds[kind](name) for name, kind in generate.CASTS.items()],
        pl.lit("bronze").alias("_layer"),
    ).sink_parquet(out / "bronze.parquet", **write)
    pl.scan_parquet(out / "bronze.parquet").filter(pl.sql_expr(WAGE_RULE)).with_columns(
        pl.lit("silver").alias("_layer")
    ).sink_parquet(out / "silver.parquet", **write)
    gold_python({TABLE: pl.scan_parquet(out / "silver.parquet")}).with_columns(
        pl.lit("gold").alias("_layer")
    ).sink_parquet(out / "gold.parquet", **write)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = {
        layer: pl.scan_parquet(out / f"{layer}.parquet").select(pl.len()).collect().item()
        for layer in ("staged", "bronze", "silver", "gold")
    }
    return {"seconds": seconds, "cpu": cpu, "rows": rows}


def _jvm_figures(executor: object) -> dict:
    """The spark executor's JVM (a child of this process): its CPU seconds and
    peak RSS (MiB) from /proc, and the session's start-up seconds."""
    run = getattr(executor, "run", None)
    if run is None or not run.started:
        return {}
    pid = run.session().sparkContext._gateway.proc.pid
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return {
        "startup_s": run.startup_s,
        "jvm_cpu": (int(fields[11]) + int(fields[12])) / ticks,
        "jvm_peak_mib": peak_kib / 1024,
    }


def child_jobforge(csv: Path, out: Path, gold: str = "python", executor: str = "polars") -> dict:
    from jobforge.engine.pipeline import PipelineEngine
    from jobforge.engine.steps import BronzeSchema, GoldSpec, Rule, SilverSpec
    from jobforge.pipeline.config import PipelineConfig

    start, cpu = time.perf_counter(), time.process_time()
    engine = PipelineEngine(
        PipelineConfig(
            out / "data",
            entry_points=False,
            executor=executor,
            plugin_settings={"spark": {"master": "local[2]"}} if executor == "spark" else None,
        )
    )
    result = engine.run_full_pipeline(
        csv,
        TABLE,
        "labour",
        bronze_schema=BronzeSchema(cast=dict(generate.CASTS)),
        silver=SilverSpec(
            dedupe="row",
            rules=[Rule(id="wage_non_negative", expression=WAGE_RULE, message="negative wage")],
        ),
        gold_transforms=[
            GoldSpec(name=GOLD, inputs=[TABLE], sql=GOLD_SQL)
            if gold == "sql"
            else GoldSpec(name=GOLD, inputs=[TABLE], function=gold_python)
        ],
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    jvm = _jvm_figures(engine.executor)
    close = getattr(engine.executor, "close", None)
    if close is not None:
        close()
    ledgers = {
        "bronze": result.bronze.record.ledger.model_dump(),
        "silver": result.silver.record.ledger.model_dump(),
        "gold": result.gold[0].record.ledger.model_dump(),
    }
    return {
        "seconds": seconds,
        "cpu": cpu,
        **jvm,
        "staged_rows": result.ingest.rows,
        "staged_quarantined": result.ingest.rows_quarantined,
        "reader": result.ingest.record.reader_details["reader"],
        "ledgers": ledgers,
        "files": {
            "staged": str(result.ingest.path),
            "bronze": str(result.bronze.path),
            "silver": str(result.silver.path),
            "silver_quarantine": str(result.silver.quarantine_path),
            "duplicates": str(result.silver.duplicates_path),
            "gold": str(result.gold[0].path),
        },
    }


CHILDREN = {"floor": child_floor, "copies": child_copies, "jobforge": child_jobforge}


# -- checks --------------------------------------------------------------------------
def _expect(what: str, got: object, expected: object) -> None:
    if got != expected:
        raise CheckFailed(f"{what}: got {got}, expected {expected}")


def check_copies(report: dict, meta: dict) -> None:
    """The copies wrote every row, and silver and gold lost only the negative wages."""
    rows, bad = meta["rows"], meta["bad_wage_rows"]
    expected = {"staged": rows, "bronze": rows, "silver": rows - bad, "gold": rows - bad}
    for layer, value in expected.items():
        _expect(f"copies {layer} rows", report["rows"][layer], value)


def check_counts(report: dict, meta: dict, out: Path) -> None:
    """Every count of a jobforge run against the generated data (cheap: footers, JSON)."""
    import pyarrow.parquet as pq

    rows, dups, bad = meta["rows"], meta["duplicates"], meta["bad_wage_rows"]
    silver_rows = rows - dups - bad
    _expect("staged rows", report["staged_rows"], rows)
    _expect("staged quarantined", report["staged_quarantined"], 0)
    # A messy file must have been read by the csv module, a plain one by polars.
    _expect("reader", report["reader"], "csv" if meta.get("messy") else "polars")
    ledgers = report["ledgers"]
    for key, value in {"rows_in": rows, "rows_out": rows, "rows_quarantined": 0}.items():
        _expect(f"bronze {key}", ledgers["bronze"][key], value)
    silver = {
        "rows_in": rows,
        "rows_quarantined": bad,
        "rows_deduplicated": dups,
        "rows_filtered": 0,
        "rows_out": silver_rows,
    }
    for key, value in silver.items():
        _expect(f"silver {key}", ledgers["silver"][key], value)
    _expect("gold rows_in", ledgers["gold"]["rows_in"], silver_rows)
    _expect("gold rows_out", ledgers["gold"]["rows_out"], silver_rows)
    files = report["files"]
    footer = {
        "staged": rows,
        "bronze": rows,
        "silver": silver_rows,
        "silver_quarantine": bad,
        "duplicates": dups,
        "gold": silver_rows,
    }
    for key, value in footer.items():
        _expect(f"{key} file rows", pq.read_metadata(files[key]).num_rows, value)
    catalog = out / "data" / "catalog"
    for layer, table, value in [
        ("staged", TABLE, rows),
        ("bronze", TABLE, rows),
        ("silver", TABLE, silver_rows),
        ("gold", GOLD, silver_rows),
    ]:
        entry = json.loads((catalog / "tables" / layer / f"{table}.json").read_text())
        _expect(f"catalog {layer}.{table} row_count", entry["row_count"], value)
    records = [json.loads(p.read_text()) for p in sorted((catalog / "lineage").glob("*/*.json"))]
    _expect("lineage records", len(records), 4)
    statuses = sorted(r["status"] for r in records)
    _expect("lineage statuses", statuses, ["partial", "success", "success", "success"])


def check_rows(report: dict, meta: dict) -> None:
    """Row-level checks of one run's silver and gold (run outside the measured child)."""
    import polars as pl

    files = report["files"]
    silver = pl.scan_parquet(files["silver"])
    data = [c for c in meta["columns"]]
    row = (
        silver.select(
            pl.len().alias("rows"),
            pl.struct(data).n_unique().alias("distinct"),
            pl.col("median_wage").min().alias("min_wage"),
            pl.col("_source_row").n_unique().alias("source_rows"),
        )
        .collect()
        .row(0, named=True)
    )
    silver_rows = meta["rows"] - meta["duplicates"] - meta["bad_wage_rows"]
    _expect("silver rows", row["rows"], silver_rows)
    _expect("silver distinct data rows", row["distinct"], silver_rows)
    _expect("silver distinct source rows", row["source_rows"], silver_rows)
    if row["min_wage"] is not None and row["min_wage"] < 0:
        raise CheckFailed(f"silver has a negative wage {row['min_wage']}")
    dropped = pl.scan_parquet(files["duplicates"]).select("_source_row")
    kept = silver.select("_source_row")
    # Every dropped row is a copy of an earlier kept row.
    later = (
        pl.scan_parquet(files["bronze"])
        .join(dropped, on="_source_row", how="semi")
        .join(
            pl.scan_parquet(files["bronze"]).join(kept, on="_source_row", how="semi"),
            on=data,
            how="inner",
            suffix="_kept",
            nulls_equal=True,
        )
        .filter(pl.col("_source_row_kept") < pl.col("_source_row"))
        .select(pl.col("_source_row").n_unique())
        .collect()
        .item()
    )
    _expect("dropped rows that copy an earlier kept row", later, meta["duplicates"])
    gold = (
        pl.scan_parquet(files["gold"])
        .select(
            pl.len(),
            (
                (
                    pl.col("annual_wage_estimate")
                    - pl.col("median_wage") * pl.col("hours_per_week") * 52
                )
                .abs()
                .max()
            ).alias("error"),
        )
        .collect()
        .row(0)
    )
    _expect("gold rows", gold[0], silver_rows)
    if gold[1] is not None and gold[1] > 0.006:
        raise CheckFailed(f"gold annual_wage_estimate off by {gold[1]}")


# -- the parent ----------------------------------------------------------------------
def run_child(
    kind: str, csv: Path, out: Path, log: Path, gold: str, executor: str = "polars"
) -> tuple[dict, float]:
    """Run one measurement in its own process; (its report, its peak RSS in MiB)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    result = out / "result.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--csv",
        str(csv),
        "--out",
        str(out),
        "--result",
        str(result),
        "--gold",
        gold,
        "--executor",
        executor,
    ]
    with log.open("ab") as sink:
        usage = run_measured(command, stdout=sink, stderr=subprocess.STDOUT)
    if usage.returncode != 0:
        raise CheckFailed(f"the {kind} child failed (exit {usage.returncode}); see {log}")
    return json.loads(result.read_text()), usage.peak_mib


def dataset(rows: int, seed: int, workdir: Path, messy: bool = False) -> tuple[Path, dict]:
    csv = workdir / generate.dataset_name(rows, seed, messy)
    meta_file = csv.with_name(csv.name + ".json")
    if csv.exists() and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("bytes") == csv.stat().st_size:
            return csv, meta
    print(f"generating {rows} rows into {csv} ...", flush=True)
    return csv, generate.generate(csv, rows, seed, messy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each first")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/jobforge-bench"))
    parser.add_argument("--only", choices=sorted(CHILDREN), help="measure one side only")
    parser.add_argument(
        "--gold",
        choices=["python", "sql"],
        default="python",
        help="build the gold table with a polars function (default) or DuckDB SQL",
    )
    parser.add_argument(
        "--executor",
        choices=["polars", "duckdb", "spark"],
        default="polars",
        help="the executor of the jobforge run ([engine] executor); duckdb and spark need "
        "--gold sql (spark: local[2]; its JVM's CPU and peak RSS and the session's start-up "
        "are shown apart)",
    )
    parser.add_argument(
        "--messy",
        action="store_true",
        help="a dataset with line breaks inside some quoted values (jobforge reads it with "
        "the csv module, not polars' scanner)",
    )
    parser.add_argument(
        "--project",
        action="store_true",
        help="measure a project of many small tables instead (see benchmarks/project_run.py)",
    )
    parser.add_argument("--tables", type=int, default=50, help="--project: source tables")
    parser.add_argument(
        "--batches",
        type=int,
        default=0,
        help="--project: also append N batches to one small table and report its steps",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="--project: pass --jobs N to every jobforge run (default: not passed, the "
        "project's default)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "jobforge":
            report = child_jobforge(args.csv, args.out, args.gold, args.executor)
        else:
            report = CHILDREN[args.child](args.csv, args.out)
        args.result.write_text(json.dumps(report))
        return 0
    if sys.flags.dont_write_bytecode:
        # every child is a new interpreter: with no up-to-date .pyc a module is compiled
        # again in each (an installed jobforge has them; an editable one writes them)
        print(
            "note: PYTHONDONTWRITEBYTECODE is set: each measured process compiles the "
            "modules that have no up-to-date .pyc (about 0.1 s of CPU for jobforge's own "
            "here); unset it to measure what an installed jobforge costs",
            file=sys.stderr,
            flush=True,
        )
    if args.project:
        import project_run

        if args.tables < 6 or args.repeat < 1 or args.warmup < 0 or args.batches < 0:
            parser.error("--project: --tables >= 6, --repeat >= 1, --warmup >= 0, --batches >= 0")
        if args.jobs is not None and args.jobs < 1:
            parser.error("--jobs N: N >= 1")
        return project_run.main(
            args.tables, args.repeat, args.warmup, args.batches, args.workdir, args.jobs
        )
    if args.rows is None or args.rows < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--rows N (N >= 1) is required; --repeat >= 1, --warmup >= 0")
    if args.executor == "spark" and args.gold != "sql":
        parser.error("--executor spark runs gold SQL only: add --gold sql")
    if args.executor == "duckdb" and args.gold != "sql":
        parser.error("--executor duckdb runs no Python transforms: add --gold sql")

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    csv, meta = dataset(args.rows, args.seed, workdir, args.messy)
    print(
        f"dataset: {meta['rows']} rows, {meta['bytes'] / 1e6:.1f} MB, "
        f"{meta['duplicates']} duplicates, {meta['bad_wage_rows']} negative wages, "
        f"{meta['empty_wages']} empty wages",
        flush=True,
    )
    log = workdir / "children.log"
    kinds = [args.only] if args.only else ["floor", "copies", "jobforge"]
    seconds: dict[str, list[float]] = {k: [] for k in kinds}
    peaks: dict[str, list[float]] = {k: [] for k in kinds}
    last_report: dict | None = None
    try:
        for index in range(args.warmup + args.repeat):
            timed = index >= args.warmup
            for kind in kinds:
                out = workdir / f"run-{kind}"
                report, peak = run_child(kind, csv, out, log, args.gold, args.executor)
                if kind == "jobforge":
                    check_counts(report, meta, out)
                    last_report = report
                elif kind == "copies":
                    check_copies(report, meta)
                label = "run" if timed else "warm-up"
                jvm = (
                    f", of which spark start-up {report['startup_s']:.3f} s; JVM cpu "
                    f"{report['jvm_cpu']:.3f} s, JVM peak {report['jvm_peak_mib']:.0f} MiB"
                    if "startup_s" in report
                    else ""
                )
                print(
                    f"{label} {kind}: {report['seconds']:.3f} s (cpu {report['cpu']:.3f} s), "
                    f"peak {peak:.0f} MiB{jvm}",
                    flush=True,
                )
                if timed:
                    seconds[kind].append(report["seconds"])
                    peaks[kind].append(peak)
        if last_report is not None:
            check_rows(last_report, meta)
            print("checks: counts of every run and rows of the last run are as generated")
    except CheckFailed as exc:
        print(f"CHECK FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        for kind in kinds:
            shutil.rmtree(workdir / f"run-{kind}", ignore_errors=True)

    median = {k: statistics.median(v) for k, v in seconds.items()}
    peak = {k: max(v) for k, v in peaks.items()}
    if args.only:
        kind = args.only
        print(f"rows={args.rows} {kind}_s={median[kind]:.3f} {kind}_peak_mib={peak[kind]:.0f}")
        return 0
    ratio = median["jobforge"] / median["floor"]
    print(
        f"copies: four layer copies alone {median['copies']:.3f} s, "
        f"copies_ratio={median['copies'] / median['floor']:.2f}; jobforge over the copies "
        f"{median['jobforge'] / median['copies']:.2f}; copies_peak_mib={peak['copies']:.0f}"
    )
    print(
        f"rows={args.rows} floor_s={median['floor']:.3f} jobforge_s={median['jobforge']:.3f} "
        f"ratio={ratio:.2f} floor_peak_mib={peak['floor']:.0f} "
        f"jobforge_peak_mib={peak['jobforge']:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
