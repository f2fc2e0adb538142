"""How many flags a steady history raises (issue 28): the real `build_campaign_flags` over marts
made up in DuckDB, campaigns whose every rate is constant in truth, so every flag is a false
alarm; and a real shift, which must still be flagged.

`python -m benchmarks --only flags`: `CAMPAIGNS` campaigns, about 60 calls a day (Poisson),
conditions drawn uniformly among three, a boolean field true with probability 0.6, reach
from call-status reports at 0.55, four paths filled with constant probabilities (FILL).
Flags per steady campaign-day, with the false-discovery-rate
control (OSVI_FLAG_FDR) and without it (every test alone at 5 %, what `significant` holds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from osvi_pipeline.lib.flag_stats import FlagRules
from osvi_pipeline.lib.sql_models import load_models
from osvi_pipeline.warehouse.campaign_flags import build_campaign_flags

CAMPAIGNS = 6
CONDITIONS = ("confirmed", "reschedule", "not_interested")
# Paths filled steadily with these probabilities (fill_rate:<field> tests)
FILL = (("data_capture", "appointment_confirmed", 0.95), ("data_capture", "email", 0.7),
        ("data_capture", "callback_slot", 0.4), ("structured_output", "summary", 0.9))
FIRST = date(2026, 9, 1)


@dataclass(frozen=True)
class NoiseResult:
    days: int
    campaign_days: int  # judged: after the first week
    raw_flags: int  # significant and large enough, each test alone
    controlled_flags: int  # after Benjamini-Hochberg across each day's tests
    shift_flagged: bool
    fill_drop_flagged: bool


def steady_marts(con: duckdb.DuckDBPyConnection, days: int, seed: int,
                 shift_campaign: str | None = None) -> None:
    """campaign_daily, campaign_outcomes, campaign_field_rates, agent_call_days,
    agent_field_days and daily_summary for a steady history; `shift_campaign`'s last day has
    every call `not_interested` and `email` filled on 10 % of calls instead of 70 %."""
    rng = random.Random(seed)
    daily, outcomes, rates, summary = [], [], [], []
    agent_calls: list[tuple[object, ...]] = []
    agent_fields: list[tuple[object, ...]] = []
    for offset in range(days):
        day = FIRST + timedelta(days=offset)
        total = 0
        for index in range(CAMPAIGNS):
            campaign = f"campaign {index}"
            calls = max(1, round(rng.gauss(60, 60 ** 0.5)))  # Poisson(60), as the test assumes
            total += calls
            attempts = calls + rng.randint(20, 40)
            picked = sum(rng.random() < 0.55 for _ in range(attempts))
            daily.append((day, campaign, calls, attempts, picked / attempts))
            shifted = campaign == shift_campaign and offset == days - 1
            drawn = ["not_interested" if shifted else rng.choice(CONDITIONS)
                     for _ in range(calls)]
            for condition in CONDITIONS:
                count = drawn.count(condition)
                if count:
                    outcomes.append((day, campaign, condition, None, count, count / calls))
            agent = f"agent {index}"
            for condition in CONDITIONS:
                count = drawn.count(condition)
                if not count:
                    continue
                agent_calls.append((day, campaign, agent, condition, count))
                for section, path, rate in FILL:
                    if shifted and path == "email":
                        rate = 0.1  # the fill-rate drop that must still be flagged
                    filled = sum(rng.random() < rate for _ in range(count))
                    if filled:
                        agent_fields.append((day, campaign, agent, condition, section, path,
                                             "string", filled))
            true = sum(rng.random() < 0.6 for _ in range(calls))
            rates.append((day, campaign, "appointment_confirmed", "boolean", true, calls - true,
                          0))
        summary.append((day, total))
    tables = {
        "campaign_daily": ("call_date date, campaign varchar, calls bigint, attempts bigint, "
                           "reach_rate double", daily),
        "campaign_outcomes": ("call_date date, campaign varchar, matched_condition varchar, "
                              "intent varchar, calls bigint, share double", outcomes),
        "campaign_field_rates": ("call_date date, campaign varchar, field varchar, field_type "
                                 "varchar, true_count bigint, false_count bigint, "
                                 "missing_count bigint", rates),
        "agent_call_days": ("call_date date, campaign varchar, agent_name varchar, "
                            "matched_condition varchar, calls bigint", agent_calls),
        "agent_field_days": ("call_date date, campaign varchar, agent_name varchar, "
                             "matched_condition varchar, section varchar, path varchar, "
                             "value_type varchar, calls bigint", agent_fields),
        "daily_summary": ("call_date date, calls bigint", summary),
    }
    for table, (columns, rows) in tables.items():
        con.execute(f"create or replace table {table} ({columns})")
        marks = ", ".join("?" * (columns.count(",") + 1))
        con.executemany(f"insert into {table} values ({marks})", rows)
    fill_rates = next(model for model in load_models() if model.name == "campaign_fill_rates")
    con.execute(f"create or replace table campaign_fill_rates as {fill_rates.sql}")


def judge(days: int, seed: int, fdr: float = 0.05) -> NoiseResult:
    """Flags of a steady history (one campaign shifted on its last day) with and without the
    control; the shifted campaign-day is left out of the false-alarm counts."""
    shifted = f"campaign {CAMPAIGNS - 1}"
    last = FIRST + timedelta(days=days - 1)
    with duckdb.connect() as con:
        steady_marts(con, days, seed, shift_campaign=shifted)
        build_campaign_flags(con, FlagRules(fdr=fdr))
        steady = "not (campaign = $shifted and call_date = $last)"
        params = {"shifted": shifted, "last": last, "judged": FIRST + timedelta(days=7)}
        raw = con.execute(f"""
            select count(distinct (call_date, campaign)) from campaign_flags
            where {steady} and call_date >= $judged and significant and metric <> 'silent'
              and abs(value - baseline) >= case when metric = 'calls' then 0.3 * baseline
                                                else 0.10 end""", params).fetchall()[0][0]
        controlled = con.execute(f"""
            select count(distinct (call_date, campaign)) from campaign_flags
            where {steady} and call_date >= $judged and flagged""", params).fetchall()[0][0]
        shift = con.execute("""
            select count(*) from campaign_flags where campaign = $shifted and call_date = $last
              and flagged and metric = 'share:not_interested'""",
                            {"shifted": shifted, "last": last}).fetchall()[0][0]
        drop = con.execute("""
            select count(*) from campaign_flags where campaign = $shifted and call_date = $last
              and flagged and metric = 'fill_rate:email'""",
                           {"shifted": shifted, "last": last}).fetchall()[0][0]
    judged_days = days - 7
    return NoiseResult(days, CAMPAIGNS * judged_days - 1, int(raw), int(controlled),
                       bool(shift), bool(drop))


def run(days: int = 60, seeds: int = 5) -> list[NoiseResult]:
    return [judge(days, seed) for seed in range(seeds)]


def markdown(results: list[NoiseResult]) -> str:
    lines = ["| history | steady campaign-days judged | flagged, each test alone at 5 % | "
             "flagged after the FDR control (5 %) | per 30 campaign-days, before → after | "
             "the real shift flagged | the fill-rate drop flagged |",
             "|---|---:|---:|---:|---:|---|---|"]
    for index, result in enumerate(results):
        before = 30 * result.raw_flags / result.campaign_days
        after = 30 * result.controlled_flags / result.campaign_days
        lines.append(f"| {result.days} days, seed {index} | {result.campaign_days} | "
                     f"{result.raw_flags} | {result.controlled_flags} | {before:.2f} → "
                     f"{after:.2f} | {'yes' if result.shift_flagged else 'NO'} | "
                     f"{'yes' if result.fill_drop_flagged else 'NO'} |")
    return "\n".join(lines)
