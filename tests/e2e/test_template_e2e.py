"""Template, URL-template and call-status integrations end to end: OSVI-semantics rendering ->
HTTP to the real server -> landing -> the real pipeline, and `osvi integrations test`."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osvi_cli.integration_requests import request_for
from osvi_core.integrations import load_integrations
from osvi_core.settings import Settings
from osvi_testkit.processes import OSVI, ServerProcess, free_port
from tests.support.config import make_settings
from tests.support.pipeline import query, run
from tests.support.templates import TEMPLATE

pytestmark = pytest.mark.slow


def _write_integrations(path: Path) -> Path:
    indented = "\n".join("      " + line for line in TEMPLATE.splitlines())
    path.write_text(
        "integrations:\n"
        "  - name: sheet\n    mode: template\n    tokens: [\"sheet-token-123\"]\n"
        f"    template: |\n{indented}\n"
        "  - name: leads\n    tokens: [\"leads-token-123\"]\n"
        "    url_template: /leads/{{crm_id}}/calls\n"
        "  - name: status\n    mode: call_status\n    tokens: [\"status-token-123\"]\n"
        "    header: X-Status-Key\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Settings]]:
    tmp = Path(tmp_path_factory.mktemp("template-e2e"))
    config = _write_integrations(tmp / "integrations.yaml")
    settings = make_settings(tmp, integrations=config, timezone="UTC")
    server = ServerProcess(settings.data_dir, free_port(), "unused-token-123", tmp / "serve.log",
                           {"OSVI_INTEGRATIONS": str(config), "OSVI_TIMEZONE": "UTC",
                            "OSVI_JOURNAL_SEGMENT_SECONDS": "0.2"})
    server.start()
    yield server, settings
    server.kill(15)


def _wait_published(settings: Settings, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while list(settings.layout.landing_dir.glob("_journal/*.journal")):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)


def test_osvi_integrations_test_sends_the_sample_through_each_integration(
        served: tuple[ServerProcess, Settings]) -> None:
    server, settings = served
    env = {**os.environ, "OSVI_DATA_DIR": str(settings.data_dir),
           "OSVI_INTEGRATIONS": str(settings.integrations)}
    printed = {}
    for name in ("sheet", "leads", "status"):
        done = subprocess.run([str(OSVI), "integrations", "test", name, "--url", server.url],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "200" in done.stdout
        printed[name] = done.stdout
    assert f"POST {server.url}/webhooks/leads/leads/lead_42/calls" in printed["leads"]
    _wait_published(settings)
    run(settings, datetime.now(UTC).date().isoformat())
    [row] = query(settings, "select delivery_count, integration_count, crm_id, person_name "
                            "from calls where call_log_id = '8de63236-e013-42dd-9d99-1be5521701d4'")
    assert row == (2, 2, "lead_42", "John Doe")
    assert query(settings, "select status, execution_mode from call_attempts") == [
        ("picked", "test")]


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | text


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    summary = draw(text.filter(lambda s: " says: " not in s and s != "null"))
    return {
        "call_log_id": str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        "agent_name": draw(st.from_regex(r"agent_[a-z]{1,6}", fullmatch=True)),
        "phone_number": "+91" + str(draw(st.integers(7_000_000_000, 9_999_999_999))),
        "call_status": "picked",
        "call_summary": summary,
        "data_capture": {"appointment_confirmed": draw(st.booleans())},
        "structured_output": {"intent": draw(text.filter(lambda s: s != "")),
                              "appointment": {"date": draw(st.dates()).isoformat()}},
        "call_trigger_data": {"person_name": draw(text.filter(lambda s: s != "")),
                              "crm_id": "lead_" + str(draw(st.integers(0, 10**6)))},
    }


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(batch=st.lists(calls(), min_size=2, max_size=6, unique_by=lambda c: c["call_log_id"]))
def test_every_field_the_template_carries_comes_back(
        served: tuple[ServerProcess, Settings], batch: list[dict[str, Any]]) -> None:
    server, settings = served
    sheet = load_integrations(Path(str(settings.integrations)))["sheet"]
    with httpx.Client(timeout=15) as client:
        for call in batch:
            method, url, headers, body = request_for(sheet, sheet.tokens[0], call, server.url)
            assert client.request(method, url, headers=headers, content=body).status_code == 200
    _wait_published(settings)
    run(settings, datetime.now(UTC).date().isoformat())
    for call in batch:
        [row] = query(settings, "select agent_name, call_summary, person_name, intent, synthetic_id"
                                " from calls where call_log_id = $id", {"id": call["call_log_id"]})
        assert row == (call["agent_name"], call["call_summary"],
                       call["call_trigger_data"]["person_name"],
                       call["structured_output"]["intent"], False)
        fields = dict(query(settings, "select field, value_bool from data_capture_fields "
                                      "where call_log_id = $id", {"id": call["call_log_id"]}))
        assert fields == {"appointment_confirmed":
                          call["data_capture"]["appointment_confirmed"]}
        [(date_text,)] = query(settings, "select value_text from structured_output_fields where "
                                         "call_log_id = $id and path = 'appointment.date'",
                               {"id": call["call_log_id"]})
        assert date_text == call["structured_output"]["appointment"]["date"]


def test_simulate_speaks_every_configured_integration(
        served: tuple[ServerProcess, Settings]) -> None:
    server, settings = served
    env = {**os.environ, "OSVI_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [str(OSVI), "simulate", "--url", server.url, "--token", "unused", "--calls", "30",
         "--seed", "5", "--integrations", str(settings.integrations)],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    _wait_published(settings)
    run(settings, datetime.now(UTC).date().isoformat())
    statuses = {row[0] for row in query(settings, "select status from call_attempts")}
    assert "picked" in statuses and statuses & {"not_picked", "busy", "failed"}
    by_integration = dict(query(settings, "select integration, count(*) from deliveries "
                                          "group by all"))
    assert {"sheet", "leads", "status"} <= set(by_integration)
    [(attempts, reach)] = query(settings, "select sum(attempts), "
                                          "sum(attempts * coalesce(reach_rate, 0)) "
                                          "from campaign_daily")
    assert attempts > 0 and reach < attempts
