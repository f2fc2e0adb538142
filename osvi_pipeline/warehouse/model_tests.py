"""The column tests a model's header declares (`-- tests: unique(col), not_null(col)`)."""

from __future__ import annotations

import duckdb

from osvi_pipeline.lib.sql_models import ColumnTest
from osvi_pipeline.lib.sql_names import quote_identifier
from osvi_pipeline.warehouse.queries import scalar


def failing_rows(con: duckdb.DuckDBPyConnection, table: str, test: ColumnTest) -> int:
    """Rows that break the test: nulls for not_null; for unique, the non-null values beyond
    each value's first (as dbt counts them)."""
    column, source = quote_identifier(test.column), quote_identifier(table)
    sql = (f"select count(*) - count(distinct {column}) - count(*) filter ({column} is null) "
           f"from {source}" if test.kind == "unique"
           else f"select count(*) from {source} where {column} is null")
    return int(scalar(con, sql))
