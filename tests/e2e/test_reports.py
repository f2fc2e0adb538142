"""The daily report's rendering (pure), and the page as a browser shows it without internet."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from osvi_pipeline.lib.charts import trend_chart
from osvi_pipeline.lib.report_render import (
    TREND_DAYS,
    CampaignDay,
    DailyReport,
    Outcome,
    Summary,
    render_html,
    render_markdown,
)
from tests.support.browser import chromium

DAY = date(2026, 11, 29)


def test_a_day_is_one_fourteenth_of_the_trend_however_short_the_history() -> None:
    chart = trend_chart([(DAY, 7)], "the report's trend", slots=TREND_DAYS)
    [width] = re.findall(r'<rect [^>]*width="([\d.]+)"', chart)
    assert float(width) < 800 / 14  # not one bar across most of the chart


def _report() -> DailyReport:
    campaigns = [CampaignDay("Diwali Offer 2026", 3, 3, 0, 3, 1),
                 CampaignDay("support <vip> & co", 1, 1, 1, 0, 0)]
    outcomes = [Outcome("Diwali Offer 2026", "confirmed", 2, 2 / 3),
                Outcome("Diwali Offer 2026", "reschedule", 1, 1 / 3),
                Outcome("support <vip> & co", "(none)", 1, 1.0)]
    summary = Summary(DAY, 4, 2, "confirmed", 2, 0, 3.0)
    return DailyReport(summary, campaigns, outcomes,  # daily_summary keeps quiet days, with 0
                       [(date(2026, 11, 27), 6), (date(2026, 11, 28), 0), (DAY, 4)])


def test_markdown_has_the_campaigns_and_every_day_of_the_trend() -> None:
    markdown = render_markdown(_report())
    assert "| 2026-11-28 | 0 |" in markdown
    assert "| support <vip> & co | 1 | 1 | 1 | 0 | 0 |" in markdown


def test_the_page_renders_offline_in_a_browser(tmp_path: Path) -> None:
    page_file = tmp_path / "2026-11-29.html"
    page_file.write_text(render_html(_report()), encoding="utf-8")
    requested: list[str] = []
    problems: list[str] = []
    with chromium("the report page was not opened in a browser") as browser:
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("console", lambda message: problems.append(message.text)
                if message.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(page_file.as_uri())
        charts = page.locator("svg")
        assert charts.count() == 3
        for index in range(3):
            box = charts.nth(index).bounding_box()
            assert box is not None and box["width"] > 0 and box["height"] > 0
        assert page.locator("svg rect").count() >= 2 + 3 + 3  # bars, segments, days
        assert "support <vip> & co" in page.inner_text("body")  # escaped, shown as text
        assert page.title() == "OSVI calls on 2026-11-29"
    assert requested == [page_file.as_uri()], "the page fetched something besides itself"
    assert problems == []
