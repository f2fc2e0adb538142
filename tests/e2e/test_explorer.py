"""The campaign explorer as its users meet it: the real server over a warehouse built from
simulated deliveries, a real browser walking a campaign team's journey with every number checked
against SQL on the same file, hostile query strings, the login, and masked personal data."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osvi_cli.simulate import generate_deliveries
from osvi_core.settings import Settings
from osvi_testkit.processes import OSVI, free_port, wait_until
from tests.support.browser import chromium
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=offset) for offset in (2, 1, 0)]
CAMPAIGNS = ["Diwali Offer 2026", "दिवाली ऑफ़र", "(none)"]  # a space, Devanagari, no campaign
PASSWORD = "explorer-pass-123"


def build_warehouse(settings: Settings, calls: int, seed: int) -> list[str]:
    """Simulated deliveries over the last three days, loaded; returns the raw bodies."""
    items = list(generate_deliveries(calls, seed=seed))
    rows = []
    for index, item in enumerate(items):
        at = datetime.combine(DAYS[index % 3], time(9), tzinfo=UTC) + timedelta(seconds=index)
        rows.append(delivery(at, item.body, integration=item.integration))
    land(settings, rows)
    run(settings, DAYS[0].isoformat(), DAYS[-1].isoformat())
    return [row.body or "" for row in rows]


@contextmanager
def explorer(settings: Settings, tmp: Path, *args: str,
             extra_env: dict[str, str] | None = None) -> Iterator[str]:
    port, log = free_port(), tmp / f"explorer-{os.getpid()}-{free_port()}.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(settings.data_dir), "OSVI_TIMEZONE": "UTC",
                **(extra_env or {})})
    with open(log, "wb") as out:
        process = subprocess.Popen([str(OSVI), "explore", "--port", str(port), *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("the explorer", lambda: httpx.get(f"{url}/healthz", timeout=2)
                   .status_code == 200, timeout=60, process=process, log=log, interval=0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    tmp = tmp_path_factory.mktemp("explorer")
    settings = make_settings(tmp)
    build_warehouse(settings, calls=240, seed=11)
    with explorer(settings, tmp) as url:
        yield url, settings


def sql_count(settings: Settings, where: str = "true", params: dict[str, Any] | None = None
              ) -> int:
    return int(query(settings, f"select count(*) from calls where call_date between $start "
                               f"and $end and {where}",
                     {"start": DAYS[0], "end": DAYS[-1], **(params or {})})[0][0])


def test_a_campaign_teams_journey_in_a_browser(site: tuple[str, Settings],
                                              tmp_path: Path) -> None:
    url, settings = site
    with chromium("the explorer's journey needs a real browser") as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/", wait_until="networkidle")
        total = int(page.locator('[data-metric="calls"]').inner_text())
        assert total == query(settings, "select sum(calls) from campaign_daily where call_date "
                                        "between $start and $end",
                              {"start": TODAY - timedelta(days=6), "end": TODAY})[0][0]
        for name in CAMPAIGNS:
            row = page.locator("#campaigns tr", has=page.get_by_role("link", name=name,
                                                                      exact=True))
            shown = int(row.locator('[data-metric="campaign-calls"]').inner_text())
            assert shown == sql_count(settings, "campaign = $c", {"c": name}), name

        page.get_by_role("link", name="Diwali Offer 2026", exact=True).click()
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text() == "Diwali Offer 2026"
        day_calls = [int(cell.inner_text()) for cell in
                     page.locator("#days tbody tr td:nth-child(2)").all()]
        assert sum(day_calls) == sql_count(settings, "campaign = 'Diwali Offer 2026'")

        link = page.locator("#outcomes tbody tr td:nth-child(2) a").first
        condition = link.inner_text()
        link.click()
        page.wait_for_load_state("networkidle")
        shown_total = int(page.locator('[data-metric="total"]').inner_text())
        day = date.fromisoformat(page.locator("input[name=start]").input_value())
        condition_sql = ("matched_condition is null" if condition == "(none)"
                         else "matched_condition = $condition")
        assert shown_total == int(query(settings, f"""
            select count(*) from calls where campaign = 'Diwali Offer 2026' and call_date = $day
            and {condition_sql}""", {"day": day, "condition": condition})[0][0])

        with page.expect_download() as download:
            page.locator("#csv").click()
        csv_file = tmp_path / "calls.csv"
        download.value.save_as(csv_file)
        rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8"))))
        assert len(rows) == shown_total
        assert {"call_log_id", "call_date", "campaign", "matched_condition", "intent",
                "agent_name", "call_status"} <= set(rows[0])
        assert {row["campaign"] for row in rows} == {"Diwali Offer 2026"}

        first = page.locator("#calls tbody tr td:nth-child(8) a").first
        call_id = first.inner_text()
        first.click()
        page.wait_for_load_state("networkidle")
        assert call_id in page.locator("h1").inner_text()
        [(campaign, deliveries)] = query(settings, "select campaign, delivery_count from calls "
                                                   "where call_log_id = $id", {"id": call_id})
        assert campaign == "Diwali Offer 2026"
        assert page.locator("details").count() == deliveries


ROUTES = ["/", "/calls", "/calls.csv", "/fields", "/rejected", "/campaigns/", "/calls/"]
PARAMETERS = ["campaign", "start", "end", "condition", "intent", "agent", "q", "page", "sort",
              "order", "format"]
hostile_text = st.one_of(st.text(max_size=40), st.sampled_from(
    ["2026-02-30", "2026-12-01", "0", "-1", "99999999999999999999", "json", "csv", "asc",
     "'; drop table calls; --", "%", "_", "\\", "(none)", "x" * 300, "../../etc/passwd",
     "\x00", "Diwali Offer 2026", "दिवाली ऑफ़र"]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), tail=hostile_text,
       params=st.dictionaries(st.sampled_from(PARAMETERS), hostile_text, max_size=5))
def test_no_query_string_or_path_gets_a_5xx(site: tuple[str, Settings], route: str, tail: str,
                                           params: dict[str, str]) -> None:
    url, _ = site
    path = route + quote(tail, safe="") if route.endswith("/") and route != "/" else route
    with httpx.stream("GET", url + path, params=params, timeout=30) as response:
        response.read()
    assert response.status_code < 500, (path, params, response.text[:300])
    assert response.status_code in (200, 400, 404), (path, params, response.status_code)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(campaign=st.one_of(st.none(), st.sampled_from(CAMPAIGNS), st.text(max_size=12)),
       condition=st.one_of(st.none(), st.sampled_from(["(none)", "confirmed", "renewed"]),
                           st.text(max_size=8)),
       q=st.one_of(st.none(), st.sampled_from(["the", "%", "_", "call"]), st.text(max_size=5)))
def test_a_filter_matches_exactly_what_sql_matches(site: tuple[str, Settings],
                                                  campaign: str | None, condition: str | None,
                                                  q: str | None) -> None:
    url, settings_ = site
    params = {"start": DAYS[0].isoformat(), "end": DAYS[-1].isoformat(), "format": "json",
              **{key: value for key, value in (("campaign", campaign), ("condition", condition),
                                               ("q", q)) if value}}
    answer = httpx.get(f"{url}/calls", params=params, timeout=30)
    if any(ord(char) < 32 for value in params.values() for char in value):
        assert answer.status_code == 400
        return
    assert answer.status_code == 200, answer.text
    where, bound = ["true"], {}
    if campaign:
        where.append("campaign = $campaign")
        bound["campaign"] = campaign
    if condition == "(none)":
        where.append("matched_condition is null")
    elif condition:
        where.append("matched_condition = $condition")
        bound["condition"] = condition
    if q:
        where.append("position(lower($q) in lower(coalesce(call_summary, ''))) > 0")
        bound["q"] = q
    assert answer.json()["total"] == sql_count(settings_, " and ".join(where), bound)


def test_json_on_every_page_and_security_headers(site: tuple[str, Settings]) -> None:
    url, settings_ = site
    [(call_id,)] = query(settings_, "select call_log_id from calls order by 1 limit 1")
    for path in ("/", f"/campaigns/{quote(CAMPAIGNS[1])}", "/calls", f"/calls/{quote(call_id)}",
                 "/fields", "/rejected"):
        answer = httpx.get(f"{url}{path}", params={"format": "json"}, timeout=30)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "application/json"), path
        page = httpx.get(f"{url}{path}", timeout=30)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert not re.search(r"(src|href)=\"https?://", page.text), "nothing from elsewhere"
    assert httpx.get(f"{url}/campaigns/no%20such%20campaign", timeout=30).status_code == 404
    bad = httpx.get(f"{url}/calls", params={"start": "2026-02-30", "format": "json"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["parameter"] == "start"


def test_an_open_interface_needs_a_password_and_then_a_login(site: tuple[str, Settings],
                                                            tmp_path: Path) -> None:
    _, settings_ = site
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env["OSVI_DATA_DIR"] = str(settings_.data_dir)
    refused = subprocess.run([str(OSVI), "explore", "--host", "0.0.0.0", "--port",
                              str(free_port())], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "OSVI_EXPLORER_PASSWORD" in refused.stderr
    with explorer(settings_, tmp_path, extra_env={"OSVI_EXPLORER_PASSWORD": PASSWORD}) as url:
        assert httpx.get(f"{url}/calls", timeout=30).status_code == 401
        wrong = httpx.get(f"{url}/calls", auth=("analyst", "not-the-password"), timeout=30)
        assert wrong.status_code == 401 and wrong.elapsed.total_seconds() >= 0.9
        assert httpx.get(f"{url}/calls", auth=("analyst", PASSWORD), timeout=30
                         ).status_code == 200


def test_masked_mode_shows_no_raw_phone_number_anywhere(tmp_path: Path) -> None:
    settings_ = make_settings(tmp_path, pii="mask")
    bodies = build_warehouse(settings_, calls=45, seed=5)
    raw = {match[-10:] for body in bodies for match in re.findall(r"\+?\d{10,13}", body)}
    assert raw, "the simulated calls carry phone numbers"
    campaigns = [name for (name,) in query(settings_, "select distinct campaign from calls")]
    calls = [call_id for (call_id,) in query(settings_, "select call_log_id from calls")]
    paths = ["/", "/calls", "/calls.csv", "/fields", "/rejected",
             *(f"/campaigns/{quote(name, safe='')}" for name in campaigns),
             *(f"/calls/{quote(call_id, safe='')}" for call_id in calls)]
    with explorer(settings_, tmp_path) as url:
        for path in paths:
            for fmt in ("html", "json"):
                text = httpx.get(f"{url}{path}", params={"format": fmt,
                                                         "start": DAYS[0].isoformat()},
                                 timeout=30).text
                runs = re.findall(r"\d{10,}", text)
                leaked = [number for number in raw if any(number in run for run in runs)]
                assert not leaked, (path, fmt, leaked[:3])


def test_the_fields_page_shows_every_paths_fill_rate_per_campaign(
        site: tuple[str, Settings]) -> None:
    """Every captured path of both sections, with the share of the campaign's calls (of the
    agents that fill it) that captured it, counted straight from the calls."""
    url, settings_ = site
    page = httpx.get(f"{url}/fields", params={"format": "json", "start": str(DAYS[0]),
                                              "end": str(DAYS[-1])}, timeout=30).json()
    shown = {(row["field"], campaign): round(rate, 6) for row in page["fill_rates"]
             for campaign, rate in row["by_campaign"].items()}
    # The agents' own calls only: the simulator's agents each fill their own fields.
    expected = dict(((field, campaign), round(rate, 6)) for field, campaign, rate in query(
        settings_, """
        with captured as (
            select c.campaign, c.agent_name, f.field, count(distinct c.call_log_id) as filled
            from data_capture_fields as f join calls as c using (call_log_id)
            where f.value_type <> 'null' and not c.is_test and c.call_date between $s and $e
            group by all
        ), agent_calls as (
            select campaign, agent_name, count(*) as calls from calls
            where not is_test and call_date between $s and $e group by all
        )
        select field, campaign, sum(filled) / sum(calls)
        from captured join agent_calls using (campaign, agent_name) group by all
        """, {"s": DAYS[0], "e": DAYS[-1]}))
    assert expected and {key: value for key, value in shown.items()
                         if not key[0].startswith("structured_output.")} == expected
    assert any(field.startswith("structured_output.") for field, _ in shown)
