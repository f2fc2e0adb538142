"""`campaign_flags`: each campaign-day against its trailing 7 days, with the statistics.

Metrics: `calls`, `reach_rate` (from call-status webhooks), `share:<matched condition>`,
`true_rate:<boolean Data Extraction field>` and `fill_rate:<field>` (campaign_fill_rates), judged by
lib/flag_stats.py; and `silent` for a
campaign that had calls on each of the 7 days before and none that day. `significant` is each
test alone at 95 %; `flagged` holds for a test that survives the false-discovery-rate control
across all of that day's tests (every campaign, every metric) and whose change is large
enough. A few rows per campaign-day, computed from the marts; a run judges again the days from
the earliest changed one on (build_campaign_flags).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

import duckdb
import pyarrow as pa

from osvi_pipeline.lib.flag_stats import (
    FlagRules,
    Verdict,
    benjamini_hochberg,
    judge_count,
    judge_proportion,
)
from osvi_pipeline.warehouse.change_log import (
    CHANGE_LOG_VERSION,
    create_scope,
    ensure_state,
    fingerprint,
    mark_done,
    plan,
    transaction,
)
from osvi_pipeline.warehouse.queries import row_count, scalar

BASELINE_DAYS = 7
TABLE = "campaign_flags"
# Bump when the judging below changes: every day is judged again (the table's fingerprint).
FLAGS_VERSION = 1
COLUMNS = pa.schema([
    ("call_date", pa.date32()), ("campaign", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()), ("baseline", pa.float64()), ("interval_low", pa.float64()),
    ("interval_high", pa.float64()), ("day_count", pa.int64()), ("baseline_count", pa.int64()),
    ("significant", pa.bool_()), ("flagged", pa.bool_()), ("p_value", pa.float64()),
])
DAYS = "select call_date from daily_summary order by 1"
CALLS = """
select call_date, campaign, calls, attempts, round(coalesce(reach_rate, 0) * attempts)::bigint
from campaign_daily
"""
SHARES = """
select call_date, campaign, matched_condition, sum(calls)::bigint
from campaign_outcomes where matched_condition is not null group by all
"""
TRUE_RATES = """
select call_date, campaign, field, true_count, true_count + false_count
from campaign_field_rates where field_type = 'boolean'
"""
# Fill rates (dbt_like_sql/marts/campaign_fill_rates.sql: among the calls of agents that had
# captured the path, so a campaign's agent mix or a new condition is not drift).
FILL_RATES = "select call_date, campaign, section, path, filled, calls from campaign_fill_rates"

# (campaign, metric) -> day -> (successes, trials); for counts successes = trials = the count
Series = dict[tuple[str, str], dict[date, tuple[int, int]]]


@dataclass(frozen=True)
class FlagsBuild:
    rows: int
    judged_from: date | None  # the first day judged again; None: every day (a full build)
    judged_days: int


def build_campaign_flags(con: duckdb.DuckDBPyConnection, rules: FlagRules) -> FlagsBuild:
    """Bring `campaign_flags` up to date.

    Only the days from the earliest day whose calls changed on are judged again: a day's
    flags depend on that day and the days before it (its baseline week, and for fill rates
    whether an agent had captured a path by then), never on later days. At 200 days of
    history, judging every day cost a micro-batch ~0.8 s."""
    ensure_state(con)
    model_fingerprint = fingerprint(FLAGS_VERSION, rules, CHANGE_LOG_VERSION)
    # Every source that recorded a change: a full rebuild of anything upstream redoes the flags.
    sources = {"deliveries", *(row[0] for row in con.execute(
        "select distinct source from osvi_state.changes").fetchall())}
    planned = plan(con, TABLE, sources, model_fingerprint)
    since: date | None = None
    if not planned.full:
        create_scope(con, "call_date", {"deliveries"}, planned)
        since = scalar(con, "select min(key) from _scope")
        if since is None:  # no call changed since the flags were judged
            with transaction(con):
                mark_done(con, TABLE, planned, model_fingerprint)
            return FlagsBuild(row_count(con, TABLE), None, 0)
    rows, judged_days = _judge_days(con, rules, since)
    con.register("campaign_flags_arrow", pa.Table.from_pylist(rows, schema=COLUMNS))
    try:
        with transaction(con):
            if since is None:
                con.execute("create or replace table campaign_flags as select * from "
                            "campaign_flags_arrow order by call_date, campaign, metric")
            else:
                con.execute("delete from campaign_flags where call_date >= $since",
                            {"since": since})
                con.execute("insert into campaign_flags select * from campaign_flags_arrow "
                            "order by call_date, campaign, metric")
            mark_done(con, TABLE, planned, model_fingerprint)
    finally:
        con.unregister("campaign_flags_arrow")
    return FlagsBuild(row_count(con, TABLE), since, judged_days)


def _judge_days(con: duckdb.DuckDBPyConnection, rules: FlagRules,
                since: date | None) -> tuple[list[dict[str, object]], int]:
    """The flag rows of every day, or of the days from `since` on (the series are read
    whole: a day's baseline is the week before it), and how many days were judged."""
    days = [row[0] for row in con.execute(DAYS).fetchall()]
    counts: Series = defaultdict(dict)
    proportions: Series = defaultdict(dict)
    for day, campaign, calls, attempts, picked in con.execute(CALLS).fetchall():
        counts[(campaign, "calls")][day] = (calls, calls)
        if attempts:
            proportions[(campaign, "reach_rate")][day] = (picked, attempts)
    campaign_calls = {(campaign, day): calls for (campaign, _), by_day in counts.items()
                      for day, (calls, _) in by_day.items()}
    for day, campaign, condition, calls in con.execute(SHARES).fetchall():
        proportions[(campaign, f"share:{condition}")][day] = (
            calls, campaign_calls.get((campaign, day), calls))
    for day, campaign, field, true_count, answered in con.execute(TRUE_RATES).fetchall():
        proportions[(campaign, f"true_rate:{field}")][day] = (true_count, answered)
    for day, campaign, section, path, filled, calls in con.execute(FILL_RATES).fetchall():
        proportions[(campaign, fill_rate_metric(section, path))][day] = (filled, calls)
    judged = [day for day in days if since is None or day >= since]
    silent = list(_silent(judged, counts))
    quiet_days = {(row["campaign"], row["call_date"]) for row in silent}
    tested = [*(row for row in _judged(judged, counts, rules, count=True)  # silent says it
                if (row["campaign"], row["call_date"]) not in quiet_days),
              *_judged(judged, proportions, rules, count=False)]
    return [*_control_false_discoveries(tested, rules.fdr), *silent], len(judged)


def fill_rate_metric(section: str, path: str) -> str:
    """`fill_rate:<field>` for a Data Extraction field (as `true_rate:<field>`),
    `fill_rate:structured_output.<path>` for an Output Schema leaf."""
    return f"fill_rate:{path}" if section == "data_capture" else f"fill_rate:{section}.{path}"


def _judged(days: list[date], series: Series, rules: FlagRules,
            count: bool) -> Iterator[dict[str, object]]:
    for (campaign, metric), by_day in series.items():
        first = min(by_day)
        for day in days:
            window = [day - timedelta(days=back) for back in range(1, BASELINE_DAYS + 1)]
            window = [d for d in window if d >= first]  # days before the campaign do not count
            if not window or day < first:
                continue
            k, n = by_day.get(day, (0, 0))
            baseline_k = sum(by_day.get(d, (0, 0))[0] for d in window)
            baseline_n = sum(by_day.get(d, (0, 0))[1] for d in window)
            verdict = (judge_count(k, baseline_k, len(window), rules) if count
                       else judge_proportion(k, n, baseline_k, baseline_n, rules))
            if verdict is not None and (n or count):
                yield _row(day, campaign, metric, verdict, n, baseline_n)


def _control_false_discoveries(rows: list[dict[str, object]], fdr: float
                               ) -> list[dict[str, object]]:
    """`flagged` after Benjamini-Hochberg over each day's tested rows (those with enough data
    for a p-value), and only for a change large enough to matter."""
    by_day: dict[object, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        row["flagged"] = False
        if row["p_value"] is not None:
            by_day[row["call_date"]].append(row)
    for tests in by_day.values():
        kept = benjamini_hochberg([cast(float, row["p_value"]) for row in tests], fdr)
        for row, discovered in zip(tests, kept, strict=True):
            row["flagged"] = discovered and bool(row.pop("large"))
    for row in rows:
        row.pop("large", None)
    return rows


def _silent(days: list[date], counts: Series) -> Iterator[dict[str, object]]:
    for (campaign, _), by_day in counts.items():
        for day in days:
            week = [day - timedelta(days=back) for back in range(1, BASELINE_DAYS + 1)]
            if by_day.get(day, (0, 0))[0] == 0 and all(by_day.get(d, (0, 0))[0] for d in week):
                mean = sum(by_day[d][0] for d in week) / BASELINE_DAYS
                yield {"call_date": day, "campaign": campaign, "metric": "silent", "value": 0.0,
                       "baseline": mean, "interval_low": None, "interval_high": None,
                       "day_count": 0, "baseline_count": sum(by_day[d][0] for d in week),
                       "significant": True, "flagged": True, "p_value": None}


def _row(day: date, campaign: str, metric: str, verdict: Verdict, day_count: int,
         baseline_count: int) -> dict[str, object]:
    return {"call_date": day, "campaign": campaign, "metric": metric, "value": verdict.value,
            "baseline": verdict.baseline, "interval_low": verdict.interval_low,
            "interval_high": verdict.interval_high, "day_count": day_count,
            "baseline_count": baseline_count, "significant": verdict.significant,
            "flagged": verdict.flagged, "p_value": verdict.p_value, "large": verdict.large}
