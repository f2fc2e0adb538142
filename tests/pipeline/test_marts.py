"""Campaign marts, exact against hand-computed expectations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from osvi_core.settings import Settings
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run

DIWALI = "Diwali ऑफ़र 2026"  # spaces and non-Latin letters
DAY28 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
DAY29 = DAY28 + timedelta(days=1)


def call(call_id: str, phone: str, agent: str, call_type: str | None,
         campaign: str | None, condition: str | None = None, intent: str | None = None,
         captured: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"call_log_id": call_id, "phone_number": phone, "agent_name": agent,
                            "call_status": "picked"}
    if call_type:
        body["call_type"] = call_type
    if campaign:
        body["call_trigger_data"] = {"campaign": campaign, "phone_number": phone}
    if condition or intent:
        body["structured_output"] = {"_matched_condition": condition, "intent": intent}
    if captured is not None:
        body["data_capture"] = captured
    return body


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(Path(tmp_path_factory.mktemp("marts")))
    c2 = call("c2", "+91A", "a2", "outbound", DIWALI, "confirmed", "yes",
              {"confirmed": False, "amount": 30})
    land(settings, [
        delivery(DAY28, call("c1", "+91A", "a1", "outbound", DIWALI, "confirmed", "yes",
                             {"confirmed": True, "amount": 10})),
        delivery(DAY28, c2),
        delivery(DAY28 + timedelta(hours=1), c2),  # a manual retry
        delivery(DAY28, call("c3", "+91B", "a1", "inbound", DIWALI, "declined", "no", {})),
        delivery(DAY28, call("c4", "+91C", "a1", None, None)),
        delivery(DAY29, call("c5", "+91D", "a1", "outbound", DIWALI, "confirmed", "yes",
                             {"confirmed": True})),
    ])
    run(settings, "2026-11-28", "2026-11-29")
    return settings


def test_campaign_daily(warehouse: Settings) -> None:
    assert query(warehouse, "select * from campaign_daily order by call_date, campaign") == [
        (date(2026, 11, 28), "(none)", 1, 1, 0, 0, 1, 0, 0, None),
        (date(2026, 11, 28), DIWALI, 3, 2, 1, 2, 2, 1, 0, None),
        (date(2026, 11, 29), DIWALI, 1, 1, 0, 1, 1, 0, 0, None),
    ]


def test_campaign_outcomes(warehouse: Settings) -> None:
    rows = query(warehouse, "select call_date, campaign, matched_condition, intent, calls, "
                            "round(share, 6) from campaign_outcomes order by all")
    assert rows == [
        (date(2026, 11, 28), "(none)", None, None, 1, 1.0),
        (date(2026, 11, 28), DIWALI, "confirmed", "yes", 2, round(2 / 3, 6)),
        (date(2026, 11, 28), DIWALI, "declined", "no", 1, round(1 / 3, 6)),
        (date(2026, 11, 29), DIWALI, "confirmed", "yes", 1, 1.0),
    ]


def test_campaign_field_rates(warehouse: Settings) -> None:
    rows = query(warehouse, "select * from campaign_field_rates order by call_date, field")
    assert rows == [
        (date(2026, 11, 28), DIWALI, "amount", "number", None, None, 1, None, 2, 20.0, 10.0,
         30.0),
        (date(2026, 11, 28), DIWALI, "confirmed", "boolean", 1, 1, 1, 0.5, None, None, None,
         None),
        (date(2026, 11, 29), DIWALI, "confirmed", "boolean", 1, 0, 0, 1.0, None, None, None,
         None),
    ]


def test_daily_summary(warehouse: Settings) -> None:
    assert query(warehouse, "select * from daily_summary order by call_date") == [
        (date(2026, 11, 28), 4, 2, "confirmed", 2, None, None, None, None, 0),
        (date(2026, 11, 29), 1, 1, "confirmed", 1, 4, -3, 4.0, -3.0, 0),
    ]


def _report(settings: Settings, *args: str, columns: str | None = "160") -> Any:
    import os
    import subprocess

    from osvi_testkit.processes import OSVI

    env = {**os.environ, "OSVI_DATA_DIR": str(settings.data_dir)}
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([str(OSVI), "report", "campaigns", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_report_campaigns_formats_and_filters(warehouse: Settings) -> None:
    import orjson

    as_json = _report(warehouse, "--format", "json", "--campaign", DIWALI)
    assert as_json.returncode == 0, as_json.stderr
    assert [(r["call_date"], r["calls"]) for r in orjson.loads(as_json.stdout)] == [
        ("2026-11-28", 3), ("2026-11-29", 1)]
    as_csv = _report(warehouse, "--format", "csv", "--start", "2026-11-29")
    assert as_csv.stdout.splitlines() == [
        "call_date,campaign,calls,unique_phones,inbound,outbound,agents,extra_deliveries,"
        "attempts,reach_rate",
        f"2026-11-29,{DIWALI},1,1,0,1,1,0,0,"]
    table = _report(warehouse, "--end", "2026-11-28")
    assert DIWALI in table.stdout and "(none)" in table.stdout and "2026-11-29" not in table.stdout
    bad = _report(warehouse, "--start", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_report_table_redirected_to_a_file_is_not_cropped(warehouse: Settings) -> None:
    """Without a terminal (a pipe, `> report.txt`, cron mail) Rich assumes 80 columns, which
    cropped the headers to "u…"; the table keeps its natural width there."""
    table = _report(warehouse, columns=None)
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "call date" in line)
    for label in ("unique phones", "extra deliveries", "reach rate"):
        assert label in header
    assert "…" not in table.stdout and "\x1b[" not in table.stdout


def test_daily_report_files_are_complete_and_self_contained(warehouse: Settings) -> None:
    directory = warehouse.data_dir / "reports" / "daily"
    markdown = (directory / "2026-11-29.md").read_text(encoding="utf-8")
    assert markdown.startswith("# OSVI calls on 2026-11-29")
    assert "- 1 call across 1 campaign on 2026-11-29 (-3 (-75%) vs the day before)" in markdown
    assert f"| {DIWALI} | 1 | 1 | 0 | 1 | 0 |" in markdown
    page = (directory / "2026-11-29.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3, "calls per campaign, outcome mix, 14-day trend"
    assert DIWALI in page
    outside = [ref for ref in ("<script src", "<link", "@import", "url(") if ref in page]
    assert not outside, "the page must open offline"
    assert "2026-11-28: 4" in page and "2026-11-29: 1" in page  # the trend's two days


def test_top_outcome_is_a_real_outcome_when_any_call_has_one(tmp_path: Path) -> None:
    """Calls from agents without an Output Schema have no outcome; they may be the most
    frequent, but the day's headline is the most frequent outcome that exists."""
    settings = make_settings(tmp_path)
    land(settings, [
        delivery(DAY28, call("n1", "+1", "a1", "outbound", "c")),
        delivery(DAY28, call("n2", "+2", "a1", "outbound", "c")),
        delivery(DAY28, call("s1", "+3", "a2", "outbound", "c", intent="support")),
        delivery(DAY29, call("n3", "+4", "a1", "outbound", "c")),
    ])
    run(settings, "2026-11-28", "2026-11-29")
    assert query(settings, "select call_date, top_outcome, top_outcome_calls "
                           "from daily_summary order by call_date") == [
        (date(2026, 11, 28), "support", 1),
        (date(2026, 11, 29), "(none)", 1),  # no call of the day has an outcome
    ]
    page = (settings.data_dir / "reports" / "daily" / "2026-11-29.html").read_text("utf-8")
    assert "<li>top outcome: (none) (1 call)</li>" in page
