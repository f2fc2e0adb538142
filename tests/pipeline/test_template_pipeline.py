"""Custom Template deliveries become the same calls as Auto ones (through the real pipeline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.config import make_settings, sample_payload_bytes
from tests.support.pipeline import delivery, land, query, run
from tests.support.templates import TEMPLATE, render

NO_ID_TEMPLATE = '{"phone": "{{call_info.phone_number}}", "intent": "{{structured_output.intent}}"}'
DAY = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _integrations(path: Path) -> Path:
    indented = "\n".join("      " + line for line in TEMPLATE.splitlines())
    path.write_text(
        "integrations:\n"
        "  - name: crm\n    tokens: [\"crm-token-123\"]\n"
        "  - name: sheet\n    mode: template\n    tokens: [\"sheet-token-123\"]\n"
        f"    template: |\n{indented}\n"
        "  - name: slim\n    mode: template\n    tokens: [\"slim-token-123\"]\n"
        f"    template: '{NO_ID_TEMPLATE}'\n", encoding="utf-8")
    return path


def test_template_and_auto_deliveries_of_one_call_merge(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, integrations=_integrations(tmp_path / "int.yaml"))
    auto = json.loads(sample_payload_bytes())
    call = {"call_info": {key: auto[key] for key in ("call_log_id", "agent_name",
                                                      "phone_number")},
            "call_summary": auto["call_summary"], "data_capture": auto["data_capture"],
            "structured_output": auto["structured_output"],
            "call_trigger_data": auto["call_trigger_data"]}
    templated = render(TEMPLATE, call)
    land(settings, [delivery(DAY, auto), delivery(DAY + timedelta(minutes=1), templated,
                                                  integration="sheet")])
    run(settings, "2026-11-28")
    [row] = query(settings, "select call_log_id, delivery_count, integration_count, "
                            "synthetic_id, intent, person_name, call_summary from calls")
    assert row == (auto["call_log_id"], 2, 2, False, "appointment_confirmation", "John Doe",
                   auto["call_summary"])


def test_a_template_without_call_id_gets_a_synthetic_one_that_collapses_retries(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path, integrations=_integrations(tmp_path / "int.yaml"))
    body = render(NO_ID_TEMPLATE, {"call_info": {"phone_number": "+911"},
                                   "structured_output": {"intent": "callback"}})
    land(settings, [delivery(DAY, body, integration="slim"),
                    delivery(DAY + timedelta(minutes=5), body, integration="slim")])
    run(settings, "2026-11-28")
    [row] = query(settings, "select call_log_id, synthetic_id, delivery_count, phone_number, "
                            "intent from calls")
    assert row[0].startswith("synthetic-") and row[1:] == (True, 2, "+911", "callback")
    assert query(settings, "select count(*) from rejected_deliveries") == [(0,)]


def _url_integrations(path: Path) -> Path:
    path.write_text(
        "integrations:\n"
        "  - name: crm\n    tokens: [\"crm-token-123\"]\n"
        "  - name: ping\n    tokens: [\"ping-token-123\"]\n"
        "    url_template: /leads/{{crm_id}}/calls\n", encoding="utf-8")
    return path


def test_get_deliveries_link_by_crm_id_or_stand_alone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, integrations=_url_integrations(tmp_path / "int.yaml"))
    auto = json.loads(sample_payload_bytes())  # call_trigger_data.crm_id = lead_42
    land(settings, [
        delivery(DAY, auto),
        delivery(DAY + timedelta(minutes=1), None, integration="ping", method="GET",
                 path="/leads/lead_42/calls"),
        delivery(DAY + timedelta(minutes=2), None, integration="ping", method="DELETE",
                 path="/leads/lead_77/calls"),
        delivery(DAY + timedelta(minutes=3), None, integration="ping", method="GET",
                 path="/leads/{{crm_id}}/calls"),
    ])
    run(settings, "2026-11-28")
    rows = query(settings, "select call_log_id, delivery_count, synthetic_id, crm_id "
                           "from calls order by crm_id")
    assert rows[0] == (auto["call_log_id"], 2, False, "lead_42")  # linked to the Auto call
    assert rows[1][0].startswith("synthetic-") and rows[1][1:] == (1, True, "lead_77")
    assert len(rows) == 2
    # The unresolved placeholder carries nothing: a rejected delivery, never dropped.
    assert query(settings, "select count(*) from rejected_deliveries") == [(1,)]


def _status_integrations(path: Path) -> Path:
    path.write_text(
        "integrations:\n"
        "  - name: crm\n    tokens: [\"crm-token-123\"]\n"
        "  - name: status\n    mode: call_status\n    tokens: [\"status-token-123\"]\n",
        encoding="utf-8")
    return path


def _report(call_id: str, status: str, mode: str = "prod") -> dict[str, object]:
    return {"call_log_id": call_id, "agent_name": "agent_a", "agent_uuid": "u-1",
            "phone_number": "+911", "call_status": status, "executionMode": mode,
            "chat": [{"role": "agent", "text": "hello"}] if status == "picked" else []}


def test_call_status_webhooks_feed_attempts_and_reach(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, integrations=_status_integrations(tmp_path / "int.yaml"))
    picked = {"call_log_id": "p1", "call_status": "picked",
              "call_trigger_data": {"campaign": "renewals"}}
    test_call = {"call_log_id": "t1", "call_status": "picked",
                 "call_trigger_data": {"campaign": "renewals"}}
    land(settings, [
        delivery(DAY, _report("p1", "picked"), integration="status"),
        delivery(DAY, _report("n1", "not_picked"), integration="status"),
        delivery(DAY, _report("b1", "busy"), integration="status"),
        delivery(DAY, _report("t1", "picked", mode="test"), integration="status"),
        delivery(DAY + timedelta(minutes=2), picked),
        delivery(DAY + timedelta(minutes=2), test_call),
    ])
    result = run(settings, "2026-11-28")
    assert query(settings, "select call_log_id, status, execution_mode, transcript_length "
                           "from call_attempts order by 1") == [
        ("b1", "busy", "prod", 0), ("n1", "not_picked", "prod", 0), ("p1", "picked", "prod", 1),
        ("t1", "picked", "test", 1)]
    assert query(settings, "select campaign, calls, attempts, round(reach_rate, 4) "
                           "from campaign_daily order by 1") == [
        ("(none)", 0, 2, 0.0), ("renewals", 1, 1, 1.0)]
    assert query(settings, "select calls, test_calls from daily_summary") == [(1, 1)]
    assert query(settings, "select call_log_id from calls order by 1") == [("p1",), ("t1",)]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["every_delivery_is_a_call_or_a_rejection"]
    assert query(settings, "select count(*) from rejected_deliveries") == [(0,)]
