"""`data_capture` and `structured_output`: one row per call, one typed column per field."""


from dataclasses import dataclass

import dagster as dg
import duckdb
import pyarrow as pa
from dagster_duckdb import DuckDBResource
from sqlglot import exp

from osvi_pipeline.preview import markdown_table, preview, quote_identifier
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.wide import PathStats, WideColumn, plan_columns, value_expression

# The section names below are fixed by this module, never taken from data.
NODES_SQL = """
create or replace temp table wide_nodes as
select c.call_log_id, c.matched_condition, substr(t.fullkey, 3) as path, t.type, t.value
from calls as c, json_tree(c.{section}) as t
where c.{section} is not null
  and t.parent is not null
  -- not inside an array (quoted keys removed first, they may contain brackets)
  and position('[' in regexp_replace(t.fullkey, '"(\\\\.|[^"\\\\])*"', '', 'g')) = 0
  and (t.type <> 'OBJECT' or t.value::varchar = '{{}}')
  and not ({is_output} and t.parent = 0 and t.key = '_matched_condition')
"""
STATS_SQL = """
select
    path,
    coalesce(list(distinct type) filter (where type <> 'NULL'), []) as types,
    coalesce(bool_and(try_cast(value ->> '$' as date) is not null
                      and regexp_full_match(value ->> '$', '\\d{4}-\\d{2}-\\d{2}'))
             filter (where type = 'VARCHAR'), false) as all_dates,
    coalesce(bool_and(try_cast(value ->> '$' as bigint) is not null)
             filter (where type in ('UBIGINT', 'BIGINT')), true) as ints_fit,
    coalesce(list(distinct matched_condition)
             filter (where type <> 'NULL' and matched_condition is not null), []) as conditions
from wide_nodes
group by path
"""
CATALOG_SQL = """
create table if not exists field_catalog (
    table_name varchar, column_name varchar, path varchar, column_type varchar,
    observed_types varchar[], conflict boolean, conditions varchar[]
)
"""


def _pivot_sql(table: str, columns: list[WideColumn], with_condition: bool) -> str:
    keys = "n.call_log_id" + (", n.matched_condition" if with_condition else "")
    selected = [
        # CASE, not FILTER: the cast must only see this column's values.
        f"any_value(case when m.idx = {index} then {value_expression(column.sql_type)} end) "
        f"as {quote_identifier(column.name)}"
        for index, column in enumerate(columns)
    ]
    return (f"create or replace table {quote_identifier(table)} as "
            f"select {', '.join([keys, *selected])} "
            f"from wide_nodes as n join wide_columns as m using (path) group by all")


@dataclass(frozen=True)
class WideBuild:
    columns: list[WideColumn]
    new_columns: list[str]
    views: list[str]
    rows: int


def build_wide_table(con: duckdb.DuckDBPyConnection, section: str) -> WideBuild:
    """Rebuild one wide table, its field_catalog rows and (structured_output) its views."""
    with_condition = section == "structured_output"
    con.execute(CATALOG_SQL)
    before = {row[0] for row in con.execute(
        "select column_name from field_catalog where table_name = $t", {"t": section}
    ).fetchall()}
    con.execute(NODES_SQL.format(section=section, is_output=str(with_condition)))
    stats_rows = con.execute(STATS_SQL).fetchall()
    conditions = {row[0]: row[4] for row in stats_rows}
    reserved = ["call_log_id", "matched_condition"] if with_condition else ["call_log_id"]
    columns = plan_columns([PathStats(path, frozenset(types), dates, fits)
                            for path, types, dates, fits, _ in stats_rows], reserved)
    mapping = pa.table({"path": [c.path for c in columns], "idx": list(range(len(columns)))})
    con.register("wide_columns_arrow", mapping)
    con.execute("create or replace temp table wide_columns as select * from wide_columns_arrow")
    con.execute(_pivot_sql(section, columns, with_condition))
    con.execute("delete from field_catalog where table_name = $t", {"t": section})
    if columns:
        con.executemany("insert into field_catalog values ($1, $2, $3, $4, $5, $6, $7)",
                        [[section, c.name, c.path, c.sql_type, list(c.observed), c.conflict,
                          conditions[c.path]] for c in columns])
    views = _condition_views(con, columns, conditions) if with_condition else []
    rows = con.execute(f"select count(*) from {quote_identifier(section)}").fetchone()
    return WideBuild(columns, [c.name for c in columns if c.name not in before], views,
                     int(rows[0]) if rows else 0)


def build_wide_asset(section: str) -> dg.AssetsDefinition:
    @dg.asset(name=section, deps=["calls"], kinds={"duckdb"}, pool=WAREHOUSE_POOL,
              group_name="warehouse",
              description=f"One row per call that has {section}, one typed column per field "
                          "or leaf path (nested keys joined by __). Grain: call_log_id.")
    def wide_table(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        with duckdb.get_connection() as con:
            built = build_wide_table(con, section)
            sample = preview(con, section, pii=osvi.pii_rules)
        conflicts = [c for c in built.columns if c.conflict]
        if conflicts:
            context.log.warning(f"{section}: {len(conflicts)} fields with conflicting types "
                                "were widened to VARCHAR")
        return dg.MaterializeResult(metadata={
            "rows": dg.MetadataValue.int(built.rows),
            "columns": dg.MetadataValue.int(len(built.columns)),
            "new_columns": dg.MetadataValue.json(built.new_columns),
            "type_conflicts": dg.MetadataValue.md(markdown_table(
                ["column", "path", "types seen"],
                [(c.name, c.path, ", ".join(c.observed)) for c in conflicts]) if conflicts
                else "none"),
            "condition_views": dg.MetadataValue.json(built.views),
            "preview": dg.MetadataValue.md(sample),
        })

    return wide_table


def _condition_views(con: duckdb.DuckDBPyConnection, columns: list[WideColumn],
                     conditions: dict[str, list[str]]) -> list[str]:
    """A view per matched condition with only the columns that condition produces."""
    by_condition: dict[str, list[str]] = {}
    for column in columns:
        for condition in conditions[column.path]:
            by_condition.setdefault(condition, []).append(column.name)
    views = []
    for condition, names in sorted(by_condition.items()):
        view = f"structured_output__{condition}"
        selected = ", ".join(quote_identifier(name) for name in
                             ["call_log_id", "matched_condition", *names])
        # A view cannot take parameters: the condition goes in as a properly quoted literal.
        literal = exp.Literal.string(condition).sql(dialect="duckdb")
        con.execute(f"create or replace view {quote_identifier(view)} as select {selected} "
                    f"from structured_output where matched_condition = {literal}")
        views.append(view)
    return views
