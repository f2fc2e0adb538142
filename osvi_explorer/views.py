"""Each page's data (the same for HTML and JSON), and the small helpers its template uses:
charts from the chart module the daily report draws with, flags in plain words."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb

from osvi_explorer import queries
from osvi_explorer.filters import NONE_CONDITION, PAGE_SIZE, CallFilters
from osvi_pipeline.lib import charts
from osvi_pipeline.lib.flag_stats import wilson_interval
from osvi_pipeline.lib.report_render import (
    Flag,
    SchemaChange,
    describe_change,
    describe_flag,
)

Data = dict[str, Any]


def empty(start: date, end: date) -> Data:
    """Nothing published yet: every page still answers, with nothing in it."""
    return {"start": start, "end": end, "published": False}


# --- pages ----------------------------------------------------------------------------------

def overview(con: duckdb.DuckDBPyConnection, start: date, end: date) -> Data:
    flagged = queries.flags(con, start, end)
    return {"start": start, "end": end, "published": True,
            "headline": {**queries.headline(con, start, end), "flags": len(flagged)},
            "calls_per_day": [{"day": day, "calls": calls}
                              for day, calls in queries.calls_per_day(con, start, end)],
            "flags": [_flag(row) for row in flagged],
            "campaigns": [_campaign_row(row) for row in queries.campaign_rows(con, start, end)]}


def campaign(con: duckdb.DuckDBPyConnection, name: str, start: date, end: date) -> Data:
    mix = queries.outcome_mix(con, name, start, end)
    return {"campaign": name, "start": start, "end": end, "published": True,
            "days": queries.campaign_days(con, name, start, end),
            "calls_per_day": [{"day": day, "calls": calls}
                              for day, calls in queries.calls_per_day(con, start, end, name)],
            "outcomes": mix,
            "fields": [_field_rate(row) for row in queries.field_rates(con, name, start, end)],
            "flags": [_flag(row) for row in queries.flags(con, start, end, name)],
            "recent_calls": queries.recent_calls(con, name)}


def calls(con: duckdb.DuckDBPyConnection, filters: CallFilters) -> Data:
    page = queries.call_page(con, filters)
    return {**_filters(filters), "published": True, "total": page.total, "pages": page.pages,
            "page_size": PAGE_SIZE, "calls": page.calls}


def no_calls(filters: CallFilters) -> Data:
    return {**_filters(filters), "published": False, "total": 0, "pages": 1,
            "page_size": PAGE_SIZE, "calls": []}


def call(con: duckdb.DuckDBPyConnection, call_log_id: str) -> Data | None:
    found = queries.call(con, call_log_id)
    if found is None:
        return None
    sections = {name: _json(found.pop(name, None))
                for name in ("data_capture", "structured_output", "call_trigger_data")}
    deliveries = queries.call_deliveries(con, call_log_id)
    for delivery in deliveries:
        body = _json(delivery.get("body"))
        delivery["body"] = body
        delivery["transcript"] = body.get("chat") if isinstance(body, dict) else None
    return {"call": found, **sections,
            "matched_condition": found.get("matched_condition"),
            "attempt": queries.call_attempt(con, call_log_id), "deliveries": deliveries}


def fields(con: duckdb.DuckDBPyConnection, start: date, end: date) -> Data:
    fill: dict[str, dict[str, float | None]] = {}
    for row in queries.fill_by_campaign(con, start, end):
        calls_counted = int(row["calls"] or 0)
        fill.setdefault(row["field"], {})[row["campaign"]] = (
            int(row["filled"] or 0) / calls_counted if calls_counted else None)
    changes = [{**row, "text": describe_change(SchemaChange(
        row["agent_name"], row["section"], row["path"], row["change"], row["detail"]))}
        for row in queries.schema_changes(con, start, end)]
    return {"start": start, "end": end, "published": True, "changes": changes,
            "catalog": queries.field_catalog(con),
            "fill_rates": [{"field": name, "by_campaign": by_campaign}
                           for name, by_campaign in sorted(fill.items())]}


def rejected(con: duckdb.DuckDBPyConnection, start: date, end: date, page: int) -> Data:
    found = queries.rejected(con, start, end, page)
    return {"start": start, "end": end, "published": True, "page": page,
            "total": found.total, "pages": found.pages, "rejected": found.calls}


# --- helpers the templates call -------------------------------------------------------------

def trend_svg(points: list[Data]) -> str:
    return charts.trend_chart([(point["day"], int(point["calls"])) for point in points],
                              label="Calls per day")


def sparkline_svg(points: list[Data]) -> str:
    return charts.sparkline([int(point["calls"]) for point in points])


def outcome_svg(mix: list[Data]) -> str:
    return charts.stacked_share_chart(
        [(str(row["call_date"]), _outcome_name(row), int(row["calls"]), float(row["share"]))
         for row in mix], label="Outcome mix per day")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def outcome_name(row: Data | None) -> str:
    return "-" if not row else _outcome_name(row)


# --- shaping rows ---------------------------------------------------------------------------

def _filters(filters: CallFilters) -> Data:
    return {"start": filters.start, "end": filters.end, "campaign": filters.campaign,
            "condition": filters.condition, "intent": filters.intent, "agent": filters.agent,
            "q": filters.q, "page": filters.page, "sort": filters.sort, "order": filters.order,
            "query": filters.query_pairs()}


def _outcome_name(row: Data) -> str:
    condition = row.get("condition") or NONE_CONDITION
    return f"{condition} · {row['intent']}" if row.get("intent") else str(condition)


def _campaign_row(row: Data) -> Data:
    return {"campaign": row["campaign"], "calls": int(row["calls"]),
            "reach_rate": row["reach_rate"], "top_outcome": row["top_outcome"],
            "flags": row["flags"],
            "trend": [{"day": day, "calls": calls} for day, calls in row["trend"]]}


def _flag(row: Data) -> Data:
    flag = Flag(campaign=row["campaign"], metric=row["metric"], value=row["value"],
                baseline=row["baseline"], interval_low=row["interval_low"],
                interval_high=row["interval_high"], day_count=int(row["day_count"] or 0))
    return {**row, "text": f"{row['call_date']}: {describe_flag(flag)}: significant"}


def _field_rate(row: Data) -> Data:
    answered = int(row["true_count"] or 0) + int(row["false_count"] or 0)
    rate = interval = None
    if row["field_type"] == "boolean" and answered:
        rate = int(row["true_count"]) / answered
        interval = wilson_interval(int(row["true_count"]), answered)
    return {**row, "true_rate": rate, "interval_low": interval[0] if interval else None,
            "interval_high": interval[1] if interval else None}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
