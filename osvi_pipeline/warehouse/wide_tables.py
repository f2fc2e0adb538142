"""Building the wide tables in DuckDB, incrementally while their column plan holds.

Each section's nodes (its leaves outside arrays, and arrays whole) are kept per call in
`osvi_state.wide_nodes__<section>`, taken from the section's long table (data_capture_fields,
structured_output_fields), which has flattened the calls already: each section is flattened
once, not twice. A run refreshes only the changed calls' nodes. Column types are planned
(wide.py) from every node kept (through per-day statistics, of which a run recomputes the
changed calls' days), so they never depend on which calls changed. When the plan is
the one the table already has, only the changed calls' rows are replaced; a new field or a
widened type rebuilds the table from the kept nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlglot import exp

from osvi_pipeline.lib.sql_names import quote_identifier
from osvi_pipeline.lib.wide_plan import PathStats, WideColumn, plan_columns, value_expression
from osvi_pipeline.warehouse.change_log import (
    CHANGE_LOG_VERSION,
    create_scope,
    ensure_state,
    fingerprint,
    in_scope,
    mark_done,
    plan,
    record_changes,
    transaction,
)
from osvi_pipeline.warehouse.model_runner import create_macros
from osvi_pipeline.warehouse.queries import row_count, table_exists

# Each wide table's leaves come from its long table, which has already flattened every call.
LONG_TABLES = {"data_capture": ("data_capture_fields", "field"),
               "structured_output": ("structured_output_fields", "path")}
WIDE_TABLES = tuple(LONG_TABLES)
# A wide table's nodes: the long table's leaves outside arrays, plus each array whole (a wide
# column holds an array as JSON), found again in the call's section through its JSON Pointer.
# Table and column names below are fixed by this module, never taken from data.
NODES_SELECT = r"""
with leaves as (
    select
        l.call_log_id,
        l.call_date,
        l.matched_condition,
        l.{path} as path,
        l.value,
        l.value_type,
        l.value_text,
        -- the keys before the first array index ('' outside arrays; quoted keys may hold `[`)
        regexp_extract(l.{path}, '^((?:"(?:\\["\\]|[^"\\])*"|[^"\[])*)\[', 1) as array_root
    from {fields} as l
),

arrays as (
    select distinct call_log_id, call_date, matched_condition, array_root from leaves
    where array_root <> ''
)

select
    call_log_id,
    call_date,
    matched_condition,
    path,
    -- json_tree's type names, which wide.py plans from
    case value_type
        when 'string' then 'VARCHAR' when 'number' then 'DOUBLE' when 'integer' then 'BIGINT'
        when 'boolean' then 'BOOLEAN' when 'null' then 'NULL' when 'object' then 'OBJECT'
        when 'array' then 'ARRAY'
    end as type,
    value,
    -- judged once per leaf when it is kept, so the type statistics stay a cheap scan
    case when value_type = 'string'
         then try_cast(value_text as date) is not null
              and regexp_full_match(value_text, '\d{{4}}-\d{{2}}-\d{{2}}') end as is_date,
    case when value_type = 'integer'
         then try_cast(value ->> '$' as bigint) is not null end as fits_bigint
from leaves
where array_root = ''

union all

select
    a.call_log_id, a.call_date, a.matched_condition, a.array_root as path, 'ARRAY' as type,
    json_extract(c.{section}, json_pointer(a.array_root)) as value,
    null as is_date, null as fits_bigint
from arrays as a
join {calls} as c using (call_log_id)
"""
# What the column plan is made from, per day and path: a run recomputes the changed calls'
# days (their nodes are found by call_date, like the rows of every keyed table), then plans from
# a few rows per day and path instead of every node of the history (3.7 s a run at 10M).
DAY_STATS_SQL = """
select
    call_date,
    path,
    list(distinct type) filter (where type <> 'NULL') as types,
    bool_and(is_date) filter (where type = 'VARCHAR') as all_dates,
    bool_and(fits_bigint) filter (where type = 'BIGINT') as ints_fit,
    list(distinct matched_condition)
        filter (where type <> 'NULL' and matched_condition is not null) as conditions
from {nodes}
{where}
group by call_date, path
"""
STATS_SQL = """
select
    path,
    coalesce(list_sort(list_distinct(flatten(list(types)))), []) as types,
    coalesce(bool_and(all_dates), false) as all_dates,
    coalesce(bool_and(ints_fit), true) as ints_fit,
    coalesce(list_sort(list_distinct(flatten(list(conditions)))), []) as conditions
from {stats}
group by path
"""
CATALOG_SQL = """
create table if not exists field_catalog (
    table_name varchar, column_name varchar, path varchar, column_type varchar,
    observed_types varchar[], conflict boolean, conditions varchar[]
)
"""
# The changed calls' rows of the long table or of calls (both have the call's call_date).
# A wide table's columns before its fields: the call, and its day (the table is kept in that
# order, so a micro-batch finds its calls' rows by day, as in every per-call table).
KEY_COLUMNS = ("call_log_id", "call_date")
CHANGED = f"(select * from {{table}} where {in_scope('call_log_id', 'call_date')})"


@dataclass(frozen=True)
class WideBuild:
    columns: list[WideColumn]
    new_columns: list[str]
    views: list[str]
    rows: int
    full: bool


def build_wide_table(con: duckdb.DuckDBPyConnection, section: str,
                     sources: set[str]) -> WideBuild:
    """Bring one wide table, its field_catalog rows and (structured_output) its views up to
    date, in one transaction."""
    with_condition = section == "structured_output"
    nodes = f"osvi_state.{quote_identifier('wide_nodes__' + section)}"
    day_stats = f"osvi_state.{quote_identifier('wide_day_stats__' + section)}"
    ensure_state(con)
    con.execute(CATALOG_SQL)
    macros = create_macros(con)
    model_fingerprint = fingerprint(NODES_SELECT, DAY_STATS_SQL, STATS_SQL,
                                    _pivot_sql("t", [], False), *macros, CHANGE_LOG_VERSION)
    planned = plan(con, section, sources, model_fingerprint)
    full = planned.full or not table_exists(con, "osvi_state", f"wide_nodes__{section}")
    with transaction(con):
        before = {row for row in con.execute(
            "select column_name, path, column_type from field_catalog where table_name = $t",
            {"t": section}).fetchall()}
        select = nodes_select(section, changed_only=not full)
        if full:
            con.execute(f"create or replace table {nodes} as "
                        f"select * from ({select}) order by call_date")
            con.execute(f"create or replace table {day_stats} as "
                        f"{DAY_STATS_SQL.format(nodes=nodes, where='')}")
        else:
            create_scope(con, "call_log_id", sources, planned)
            con.execute(f"delete from {nodes} where {in_scope('call_log_id', 'call_date')}")
            con.execute(f"insert into {nodes} {select}")
            changed_days = "where call_date in (select key from _scope_days)"
            con.execute(f"delete from {day_stats} {changed_days}")
            con.execute(f"insert into {day_stats} "
                        f"{DAY_STATS_SQL.format(nodes=nodes, where=changed_days)}")
        stats_rows = con.execute(STATS_SQL.format(stats=day_stats)).fetchall()
        conditions = {row[0]: row[4] for row in stats_rows}
        reserved = [*KEY_COLUMNS, *(["matched_condition"] if with_condition else [])]
        columns = plan_columns([PathStats(path, frozenset(types), dates, fits)
                                for path, types, dates, fits, _ in stats_rows], reserved)
        mapping = pa.table({"path": [c.path for c in columns],
                            "idx": list(range(len(columns)))})
        con.register("wide_columns_arrow", mapping)
        con.execute("create or replace temp table wide_columns as "
                    "select * from wide_columns_arrow")
        same_plan = before == {(c.name, c.path, c.sql_type) for c in columns}
        table = quote_identifier(section)
        if full or not same_plan:
            pivot = _pivot_sql(nodes, columns, with_condition)
            con.execute(f"create or replace table {table} as "
                        f"select * from ({pivot}) order by call_date")
            record_changes(con, section, "call_log_id", None)
        else:
            pivot = _pivot_sql(nodes, columns, with_condition,
                               where=f"where {in_scope('call_log_id', 'call_date', 'n')}")
            con.execute(f"delete from {table} where {in_scope('call_log_id', 'call_date')}")
            con.execute(f"insert into {table} by name {pivot}")
        _write_catalog(con, section, columns, conditions)
        views = _condition_views(con, columns, conditions) if with_condition else []
        mark_done(con, section, planned, model_fingerprint)
    rows = row_count(con, section)
    before_names = {name for name, _, _ in before}
    return WideBuild(columns, [c.name for c in columns if c.name not in before_names], views,
                     int(rows), full or not same_plan)


def nodes_select(section: str, changed_only: bool = False) -> str:
    """The query of a section's wide nodes: of every call, or of the calls in `_scope`."""
    fields, path = LONG_TABLES[section]
    calls = "calls"
    if changed_only:  # limited before the joins and the JSON work, not after
        fields, calls = CHANGED.format(table=fields), CHANGED.format(table=calls)
    return NODES_SELECT.format(section=section, path=path, fields=fields, calls=calls)


def _pivot_sql(nodes: str, columns: list[WideColumn], with_condition: bool,
               where: str = "") -> str:
    keys = "n.call_log_id, n.call_date" + (", n.matched_condition" if with_condition else "")
    selected = [
        # CASE, not FILTER: the cast must only see this column's values.
        f"any_value(case when m.idx = {index} then {value_expression(column.sql_type)} end) "
        f"as {quote_identifier(column.name)}"
        for index, column in enumerate(columns)
    ]
    return (f"select {', '.join([keys, *selected])} "
            f"from {nodes} as n join wide_columns as m using (path) {where} group by all")


def _write_catalog(con: duckdb.DuckDBPyConnection, section: str, columns: list[WideColumn],
                   conditions: dict[str, list[str]]) -> None:
    con.execute("delete from field_catalog where table_name = $t", {"t": section})
    if columns:
        con.executemany("insert into field_catalog values ($1, $2, $3, $4, $5, $6, $7)",
                        [[section, c.name, c.path, c.sql_type, list(c.observed), c.conflict,
                          conditions[c.path]] for c in columns])


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
                             [*KEY_COLUMNS, "matched_condition", *names])
        # A view cannot take parameters: the condition goes in as a properly quoted literal.
        literal = exp.Literal.string(condition).sql(dialect="duckdb")
        con.execute(f"create or replace view {quote_identifier(view)} as select {selected} "
                    f"from structured_output where matched_condition = {literal}")
        views.append(view)
    return views
