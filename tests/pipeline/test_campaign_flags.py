"""campaign_flags and the summary's "needs attention" lines, from the real asset graph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.lib.report_render import render_chat_text
from osvi_pipeline.warehouse.daily_report import load_report
from tests.support.campaigns import FIRST, LAST, land_flag_history
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(Path(tmp_path_factory.mktemp("flags")))
    land_flag_history(settings)
    run(settings, FIRST.isoformat(), LAST.isoformat())
    return settings


def test_a_real_change_is_flagged_and_noise_is_not(warehouse: Settings) -> None:
    flagged = query(warehouse, "select campaign, metric from campaign_flags "
                               "where call_date = $day and flagged order by 1, 2",
                    {"day": LAST})
    assert flagged == [("Renewals", "true_rate:appointment_confirmed"), ("Weekly", "silent")]
    [(value, baseline, low, high, significant)] = query(
        warehouse, "select value, baseline, interval_low, interval_high, significant "
                   "from campaign_flags where call_date = $day and campaign = 'Renewals' "
                   "and metric = 'true_rate:appointment_confirmed'", {"day": LAST})
    assert (value, baseline, significant) == (0.3, 0.8, True)
    assert 0.18 < low < 0.3 < high < 0.46, "the Wilson interval of 12 of 40"
    pilot = query(warehouse, "select value, baseline, significant, flagged from campaign_flags "
                             "where call_date = $day and campaign = 'Pilot' "
                             "and metric = 'true_rate:appointment_confirmed'", {"day": LAST})
    assert pilot == [(1 / 3, 2 / 3, False, False)], "2 of 3 against 1 of 3 is noise"
    earlier = query(warehouse, "select count(*) from campaign_flags where flagged "
                               "and call_date < $day", {"day": LAST})
    assert earlier == [(0,)], "a steady week raises nothing"


def test_the_summary_leads_with_the_numbers_and_the_flags(warehouse: Settings) -> None:
    with duckdb.connect(str(warehouse.layout.warehouse_path), read_only=True) as con:
        report = load_report(con, LAST)
    assert report is not None
    text = render_chat_text(report, "https://reports.example.com/daily/x.html")
    lines = text.splitlines()
    assert lines[0].startswith(f"43 calls across 2 campaigns on {LAST}")
    assert "Renewals: 40 calls" in text
    assert ("Renewals: appointment_confirmed true rate 30% against 80% over the 7 days before"
            in text)
    assert "Weekly: no calls, after calls on each of the 7 days before (30 a day)" in text
    assert "Pilot" not in text.split("Needs attention:")[1]
    assert text.rstrip().endswith("Report: https://reports.example.com/daily/x.html")
    markdown = (warehouse.data_dir / "reports" / "daily" / f"{LAST}.md").read_text()
    assert "## Needs attention" in markdown and "Weekly: no calls" in markdown


def test_later_runs_judge_only_the_days_from_the_earliest_change_on(
        warehouse: Settings, tmp_path: Path) -> None:
    """The flags of a week loaded in two runs, then a late call on its third day, equal the
    module's one run over the same calls; the late run judges five days, not eight."""
    settings = make_settings(tmp_path / "runs")
    land_flag_history(settings)
    run(settings, FIRST.isoformat(), (LAST - timedelta(days=1)).isoformat())
    judged = [flags_judged(run(settings, LAST.isoformat()))]
    third = FIRST + timedelta(days=2)
    late = delivery(datetime(third.year, third.month, third.day, 23, tzinfo=UTC),
                    {"call_log_id": "late-1", "call_trigger_data": {"campaign": "Pilot"}})
    land(settings, [late])
    judged.append(flags_judged(run(settings, third.isoformat())))
    assert judged == [f"1 day from {LAST}", f"6 days from {third}"]

    full = make_settings(tmp_path / "full")
    land_flag_history(full)
    land(full, [late])
    run(full, FIRST.isoformat(), LAST.isoformat())
    everything = "select * from campaign_flags order by all"
    assert query(settings, everything) == query(full, everything)
    assert query(settings, everything) != query(warehouse, everything), "the late call counts"


def flags_judged(result: dg.ExecuteInProcessResult) -> str:
    [materialization] = [event.event_specific_data.materialization
                         for event in result.get_asset_materialization_events()
                         if event.asset_key == dg.AssetKey("campaign_flags")]
    return str(materialization.metadata["judged"].value)
