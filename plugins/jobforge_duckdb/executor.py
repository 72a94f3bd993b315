"""The DuckDB executor: staged, bronze and silver as DuckDB SQL (the reader's
Arrow stream, then parquet inputs read by DuckDB), gold SQL in the shared
sandbox (:mod:`jobforge.engine.gold_sql`).

Each step opens its own in-memory connection with a memory limit; results are
streamed from DuckDB as Arrow batches, in file order, into parquet temporaries,
and DuckDB spills what does not fit (the de-duplication candidates) to a folder
beside the step's outputs, removed when the step ends. Of Python transforms it runs the
``"arrow"`` kind (each batch of the silver result, as DuckDB streams it); a
project with others is refused before anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobforge.plugin import (
    ARROW,
    SQL_TYPES,
    BronzeRequest,
    Capabilities,
    ContractError,
    GoldRequest,
    SilverRequest,
    StagedRequest,
    StepOutcome,
    describe_gold,
    first_line,
    run_gold_sql,
)

if TYPE_CHECKING:  # DuckDB and the steps are imported when a step runs
    from jobforge_duckdb.session import Session

__all__ = ["DuckDBExecutor"]


class DuckDBExecutor:
    """Runs every declarative layer step as DuckDB SQL."""

    name = "duckdb"
    capabilities = Capabilities(
        transforms=frozenset({ARROW}),
        files_per_version="one",
        sql_dialect="duckdb",
        streaming=True,
        gold_sql=True,
    )

    def __init__(self, memory_limit: str = "1GB", threads: int = 2) -> None:
        self.memory_limit = memory_limit
        self.threads = threads

    def _session(self, request: StagedRequest | BronzeRequest | SilverRequest) -> Session:
        from jobforge_duckdb.session import Session

        return Session(request.targets.data, self.memory_limit, self.threads)

    def check_rule(self, expression: str, columns: dict[str, str]) -> str | None:
        """``None`` if ``expression`` is a boolean expression over ``columns``
        (name -> type), else what is wrong, on one line."""
        import duckdb

        from jobforge_duckdb.session import ident

        con = duckdb.connect(":memory:", config={"python_enable_replacements": False})
        try:
            body = ", ".join(
                f"{ident(n)} {SQL_TYPES.get(t, 'VARCHAR')}" for n, t in columns.items()
            )
            con.execute(f"CREATE TABLE jf_rule ({body})")
            kind = con.execute(f"DESCRIBE SELECT ({expression}) AS rule FROM jf_rule").fetchall()
        except duckdb.Error as exc:
            return first_line(exc)
        finally:
            con.close()
        if str(kind[0][1]) != "BOOLEAN":
            return f"is not a boolean expression (it gives {kind[0][1]})"
        return None

    def describe_gold(self, sql: str, inputs: dict[str, dict[str, str]]) -> dict[str, str]:
        """The columns a gold SQL query returns over inputs with these columns."""
        return describe_gold(sql, inputs)

    def write_staged(self, request: StagedRequest) -> StepOutcome:
        from jobforge_duckdb import steps

        with self._session(request) as session:
            return steps.write_staged(session, request)

    def write_bronze(self, request: BronzeRequest) -> StepOutcome:
        from jobforge_duckdb import steps

        with self._session(request) as session:
            return steps.write_bronze(session, request)

    def write_silver(self, request: SilverRequest) -> StepOutcome:
        from jobforge_duckdb import steps

        with self._session(request) as session:
            return steps.write_silver(session, request)

    def write_gold(self, request: GoldRequest) -> StepOutcome:
        spec = request.spec
        if spec.sql is None:
            raise ContractError(
                f"gold {spec.name}: the duckdb executor runs gold SQL only, not "
                f"{spec.transform_label}"
            )
        with request.pending.sink_for(request.targets.data) as out_file:
            run_gold_sql(request.inputs, spec, out_file, request.context)
        return StepOutcome(
            rows_in=0,
            rows_out=request.pending.row_count(request.targets.data),
            transforms_applied=[f"gold:{spec.transform_label}"],
        )
