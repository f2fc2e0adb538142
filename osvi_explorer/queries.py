"""What each explorer page reads from the published warehouse: plain SQL with bound parameters.

Only ORDER BY takes a name, and only one of `filters.SORTS` (a fixed whitelist). Tables a
warehouse written by an earlier version may lack read as empty, never as an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from osvi_explorer.filters import NONE_CONDITION, PAGE_SIZE, SORTS, CallFilters

Row = dict[str, Any]
CSV_COLUMNS = ("call_log_id", "call_date", "first_received_at", "campaign", "matched_condition",
               "intent", "agent_name", "call_status", "call_type", "delivery_count",
               "phone_number", "person_name", "call_summary")
RECENT_CALLS = 20
CSV_BATCH_ROWS = 10_000


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
         ) -> list[Row]:
    """The query's rows as dicts. Only the parameters the SQL names are bound (DuckDB refuses
    extra ones), so a page can share one parameter dict among its queries."""
    bound = {name: value for name, value in (params or {}).items() if f"${name}" in sql}
    try:
        cursor = con.execute(sql, bound)
    except duckdb.CatalogException:  # a table an older warehouse does not have
        return []
    names = [column[0] for column in cursor.description or []]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


# --- overview ----------------------------------------------------------------------------

def headline(con: duckdb.DuckDBPyConnection, start: date, end: date) -> Row:
    found = rows(con, """
        select coalesce(sum(calls), 0) as calls,
               count(distinct campaign) filter (where calls > 0) as campaigns,
               coalesce(sum(attempts), 0) as attempts,
               sum(reach_rate * attempts) filter (where attempts > 0)
                   / nullif(sum(attempts) filter (where attempts > 0), 0) as reach_rate
        from campaign_daily where call_date between $start and $end
        """, {"start": start, "end": end})
    result: Row = found[0] if found else {"calls": 0, "campaigns": 0, "attempts": 0,
                                          "reach_rate": None}
    top = rows(con, """
        select coalesce(matched_condition, $none) as condition, intent, sum(calls) as calls
        from campaign_outcomes where call_date between $start and $end
        group by all order by calls desc, condition, intent nulls last limit 1
        """, {"start": start, "end": end, "none": NONE_CONDITION})
    result["top_outcome"] = top[0] if top else None
    return result


def calls_per_day(con: duckdb.DuckDBPyConnection, start: date, end: date,
                  campaign: str | None = None) -> list[tuple[date, int]]:
    found = {row["call_date"]: int(row["calls"]) for row in rows(con, """
        select call_date, sum(calls) as calls from campaign_daily
        where call_date between $start and $end and ($campaign is null or campaign = $campaign)
        group by all
        """, {"start": start, "end": end, "campaign": campaign})}
    return [(day, found.get(day, 0)) for day in days_between(start, end)]


def campaign_rows(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[Row]:
    """One row per campaign with calls in the range: calls, reach rate, top outcome, the daily
    calls for a sparkline, and how many of its days were flagged."""
    params = {"start": start, "end": end, "none": NONE_CONDITION}
    campaigns = rows(con, """
        select campaign, sum(calls) as calls, sum(attempts) as attempts,
               sum(reach_rate * attempts) filter (where attempts > 0)
                   / nullif(sum(attempts) filter (where attempts > 0), 0) as reach_rate
        from campaign_daily where call_date between $start and $end
        group by campaign having sum(calls) > 0 order by calls desc, campaign
        """, params)
    tops = {row["campaign"]: row for row in rows(con, """
        select campaign, coalesce(matched_condition, $none) as condition, intent,
               sum(calls) as calls
        from campaign_outcomes where call_date between $start and $end
        group by campaign, condition, intent
        qualify row_number() over (partition by campaign
                                   order by sum(calls) desc, condition, intent nulls last) = 1
        """, params)}
    daily: dict[str, dict[date, int]] = {}
    for row in rows(con, """
            select campaign, call_date, sum(calls) as calls from campaign_daily
            where call_date between $start and $end group by all""", params):
        daily.setdefault(row["campaign"], {})[row["call_date"]] = int(row["calls"])
    flags = {row["campaign"]: int(row["flags"]) for row in rows(con, """
        select campaign, count(*) as flags from campaign_flags
        where flagged and call_date between $start and $end group by all""", params)}
    days = days_between(start, end)
    for row in campaigns:
        row["top_outcome"] = tops.get(row["campaign"])
        row["trend"] = [(day, daily.get(row["campaign"], {}).get(day, 0)) for day in days]
        row["flags"] = flags.get(row["campaign"], 0)
    return campaigns


def flags(con: duckdb.DuckDBPyConnection, start: date, end: date,
          campaign: str | None = None) -> list[Row]:
    return rows(con, """
        select call_date, campaign, metric, value, baseline, interval_low, interval_high,
               day_count, baseline_count, significant, flagged
        from campaign_flags
        where flagged and call_date between $start and $end
          and ($campaign is null or campaign = $campaign)
        order by call_date desc, campaign, metric
        """, {"start": start, "end": end, "campaign": campaign})


# --- one campaign --------------------------------------------------------------------------

def campaign_exists(con: duckdb.DuckDBPyConnection, campaign: str) -> bool:
    return bool(rows(con, "select 1 as found from calls where campaign = $campaign limit 1",
                     {"campaign": campaign}))


def outcome_mix(con: duckdb.DuckDBPyConnection, campaign: str, start: date, end: date
                ) -> list[Row]:
    return rows(con, """
        select call_date, coalesce(matched_condition, $none) as condition,
               coalesce(intent, '') as intent, sum(calls) as calls,
               sum(calls) / sum(sum(calls)) over (partition by call_date) as share
        from campaign_outcomes
        where campaign = $campaign and call_date between $start and $end
        group by call_date, condition, intent order by call_date, calls desc, condition, intent
        """, {"campaign": campaign, "start": start, "end": end, "none": NONE_CONDITION})


def field_rates(con: duckdb.DuckDBPyConnection, campaign: str | None, start: date, end: date
                ) -> list[Row]:
    """Each extracted field over the range: booleans' true counts, numbers' summaries."""
    return rows(con, """
        select field, any_value(field_type) as field_type,
               sum(true_count) as true_count, sum(false_count) as false_count,
               sum(missing_count) as missing_count, sum(value_count) as value_count,
               sum(avg_value * value_count) / nullif(sum(value_count), 0) as avg_value,
               min(min_value) as min_value, max(max_value) as max_value
        from campaign_field_rates
        where ($campaign is null or campaign = $campaign)
          and call_date between $start and $end
        group by field order by field
        """, {"campaign": campaign, "start": start, "end": end})


def campaign_days(con: duckdb.DuckDBPyConnection, campaign: str, start: date, end: date
                  ) -> list[Row]:
    return rows(con, """
        select call_date, calls, unique_phones, inbound, outbound, agents, attempts, reach_rate
        from campaign_daily
        where campaign = $campaign and call_date between $start and $end order by call_date
        """, {"campaign": campaign, "start": start, "end": end})


# --- calls ----------------------------------------------------------------------------------

_CALL_FILTER = """
    call_date between $start and $end
    and ($campaign is null or campaign = $campaign)
    and ($condition is null or matched_condition = $condition
         or ($condition = $none and matched_condition is null))
    and ($intent is null or intent = $intent)
    and ($agent is null or agent_name = $agent)
    and ($q is null or contains(lower(coalesce(call_summary, '')), lower($q)))
"""


def _filter_params(filters: CallFilters) -> dict[str, Any]:
    return {"start": filters.start, "end": filters.end, "campaign": filters.campaign,
            "condition": filters.condition, "intent": filters.intent,
            "agent": filters.agent, "q": filters.q, "none": NONE_CONDITION}


def _order(filters: CallFilters) -> str:
    direction = "asc" if filters.order == "asc" else "desc"
    return f"{SORTS[filters.sort]} {direction} nulls last, call_log_id"


@dataclass(frozen=True)
class CallPage:
    calls: list[Row]
    total: int
    pages: int


def call_page(con: duckdb.DuckDBPyConnection, filters: CallFilters) -> CallPage:
    params = _filter_params(filters)
    counted = rows(con, f"select count(*) as total from calls where {_CALL_FILTER}", params)
    total = int(counted[0]["total"]) if counted else 0
    found = rows(con, f"""
        select call_log_id, call_date, first_received_at, campaign, matched_condition, intent,
               agent_name, call_status, delivery_count, phone_number, call_summary
        from calls where {_CALL_FILTER}
        order by {_order(filters)} limit {PAGE_SIZE} offset $offset
        """, {**params, "offset": filters.offset})
    return CallPage(found, total, max(1, -(-total // PAGE_SIZE)))


def recent_calls(con: duckdb.DuckDBPyConnection, campaign: str) -> list[Row]:
    return rows(con, f"""
        select call_log_id, call_date, first_received_at, matched_condition, intent,
               agent_name, call_status, phone_number
        from calls where campaign = $campaign
        order by first_received_at desc, call_log_id limit {RECENT_CALLS}
        """, {"campaign": campaign})


def calls_csv_batches(con: duckdb.DuckDBPyConnection, filters: CallFilters
                      ) -> Iterator[pa.RecordBatch]:
    """Every matching call, in batches: DuckDB sorts (spilling to disk beyond its memory
    limit), Python holds one batch at a time."""
    relation = con.sql(f"""
        select {', '.join(CSV_COLUMNS)} from calls where {_CALL_FILTER}
        order by {_order(filters)}
        """, params=_filter_params(filters))
    reader: pa.RecordBatchReader = relation.to_arrow_reader(CSV_BATCH_ROWS)
    yield from reader


# --- one call -------------------------------------------------------------------------------

def call(con: duckdb.DuckDBPyConnection, call_log_id: str) -> Row | None:
    found = rows(con, "select * from calls where call_log_id = $id", {"id": call_log_id})
    return found[0] if found else None


def call_deliveries(con: duckdb.DuckDBPyConnection, call_log_id: str) -> list[Row]:
    return rows(con, """
        select delivery_id, received_at, integration, method, path, kind, parse_error, body
        from deliveries where call_log_id = $id order by received_at, delivery_id
        """, {"id": call_log_id})


def call_attempt(con: duckdb.DuckDBPyConnection, call_log_id: str) -> Row | None:
    found = rows(con, """
        select attempt_date, status, agent_name, execution_mode, transcript_length, reports
        from call_attempts where call_log_id = $id
        """, {"id": call_log_id})
    return found[0] if found else None


# --- fields and rejections ------------------------------------------------------------------

def field_catalog(con: duckdb.DuckDBPyConnection) -> list[Row]:
    return rows(con, """
        select table_name, column_name, path, column_type, observed_types, conflict, conditions
        from field_catalog order by table_name, column_name
        """)


def fill_by_campaign(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[Row]:
    """Per campaign and path (Data Extraction fields; Output Schema leaves as
    `structured_output.<path>`): the share of its calls that captured it, counted as
    campaign_fill_rates does (among the calls of agents that had captured it)."""
    return rows(con, """
        select campaign,
               case when section = 'data_capture' then path
                    else section || '.' || path end as field,
               sum(filled) as filled, sum(calls) as calls
        from campaign_fill_rates where call_date between $start and $end
        group by all order by campaign, field
        """, {"start": start, "end": end})


def schema_changes(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[Row]:
    return rows(con, """
        select change_date, agent_name, section, path, change, detail from schema_changes
        where change_date between $start and $end
        order by change_date desc, agent_name, section, path, change
        """, {"start": start, "end": end})


def rejected(con: duckdb.DuckDBPyConnection, start: date, end: date, page: int) -> CallPage:
    params = {"start": start, "end": end}
    counted = rows(con, "select count(*) as total from rejected_deliveries "
                        "where received_day between $start and $end", params)
    total = int(counted[0]["total"]) if counted else 0
    found = rows(con, f"""
        select delivery_id, received_at, integration, method, path, reason
        from rejected_deliveries where received_day between $start and $end
        order by received_at desc, delivery_id limit {PAGE_SIZE} offset $offset
        """, {**params, "offset": (page - 1) * PAGE_SIZE})
    return CallPage(found, total, max(1, -(-total // PAGE_SIZE)))
