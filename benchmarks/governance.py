"""What column lineage and label propagation cost a step, on a wide table.

``python benchmarks/governance.py --columns 1000`` writes one parquet file with
that many columns (a few rows: these costs do not depend on the rows), then
measures, as the median of ``--repeat`` calls:

- ``bronze_ms``: the bronze lineage (a rename and a cast of every column);
- ``silver_ms``: the silver lineage with one transform (its polars plan read);
- ``gold_sql_ms``: the lineage of a gold ``SELECT`` naming every column, with an
  expression over each (``jobforge.sql``);
- ``gold_function_ms``: the lineage of a gold function (its plan read);
- ``labels_ms``: what the inputs give each column (``Computed.column`` for every
  column, one input whose every other column is classified).

Before anything is reported, each lineage is checked to cover every column with
the kind expected. The last line printed is::

    columns=... bronze_ms=... silver_ms=... gold_sql_ms=... gold_function_ms=... labels_ms=...
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from jobforge.catalog.governance import Computed, InputLabels
from jobforge.engine.column_lineage import (
    bronze_lineage,
    gold_lineage,
    input_columns,
    silver_lineage,
    sql_lineage,
)
from jobforge.engine.steps import BronzeSchema, GoldSpec, SilverSpec


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def doubled(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(pl.col("c0") * 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.columns
    names = [f"c{i}" for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.parquet"
        provenance = {
            "_source_file": ["x"],
            "_ingested_at": [0],
            "_batch_id": ["b"],
            "_layer": ["bronze"],
            "_source_row": [1],
            "_processed_at": [0],
        }
        pl.DataFrame({**{c: [1] for c in names}, **provenance}).write_parquet(path)
        columns = input_columns([path])
        schema = BronzeSchema(
            rename={c: f"r{c}" for c in names}, cast={f"r{c}": "int" for c in names}
        )
        bronze = bronze_lineage("wide", columns, schema)
        assert all(bronze.columns[f"r{c}"].kind == "cast" for c in names)
        spec = SilverSpec(transforms=[doubled])
        silver = silver_lineage("wide", [path], spec)
        assert silver.columns["c0"].kind == "transform"
        assert all(silver.columns[c].kind == "identity" for c in names[1:])
        sql = "SELECT " + ", ".join(f"{c} + 1 AS {c}" for c in names) + ", _lineage FROM wide"
        layers = {"wide": "silver.wide"}
        gold = sql_lineage(sql, {"wide": columns}, layers)
        assert all(gold.columns[c].kind == "expression" for c in names)
        function = GoldSpec(
            name="g",
            inputs=["wide"],
            function=lambda frames: frames["wide"].select(
                *[pl.col(c) + 1 for c in names], "_lineage"
            ),
        )
        planned = gold_lineage(function, {"wide": [path]}, ["silver.wide"], None)
        assert all(planned.columns[c].kind == "expression" for c in names), "plan not read"
        labels = InputLabels(
            "silver.wide",
            "confidential",
            ("silver.wide",),
            {
                c: ("sensitive" if i % 2 else None, (f"silver.wide.{c}",))
                for i, c in enumerate(names)
            },
        )
        computed = Computed(gold, (labels,))
        assert computed.column("c1").pii == "sensitive"
        figures = {
            "bronze_ms": _median_ms(lambda: bronze_lineage("wide", columns, schema), args.repeat),
            "silver_ms": _median_ms(lambda: silver_lineage("wide", [path], spec), args.repeat),
            "gold_sql_ms": _median_ms(
                lambda: sql_lineage(sql, {"wide": columns}, layers), args.repeat
            ),
            "gold_function_ms": _median_ms(
                lambda: gold_lineage(function, {"wide": [path]}, ["silver.wide"], None),
                args.repeat,
            ),
            "labels_ms": _median_ms(
                lambda: [Computed(gold, (labels,)).column(c) for c in names], args.repeat
            ),
        }
    print(f"columns={n} " + " ".join(f"{k}={v:.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
