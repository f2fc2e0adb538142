"""Extraction drift told as it happens: a micro-batch that finds a schema change or a frozen
contract's new path alerts a real json:// receiver once (not once per run), records it in
`notifications`, and still loads every delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run
from tests.support.receivers import Inbox

pytestmark = pytest.mark.slow
CONTRACT = """integrations:
  - name: crm
    tokens: ["crm-token-123"]
    contract:
      data_capture: freeze
"""


def asha(call_id: str, capture: dict[str, object]) -> dict[str, object]:
    return {"call_log_id": call_id, "agent_name": "Asha", "data_capture": capture,
            "call_trigger_data": {"campaign": "Renewals"}}


def test_a_change_today_alerts_once_and_the_frozen_contract_records_it(
        tmp_path: Path, inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    integrations = tmp_path / "integrations.yaml"
    integrations.write_text(CONTRACT, encoding="utf-8")
    settings = make_settings(tmp_path, integrations=integrations, timezone="UTC",
                             notify_urls=f"json://127.0.0.1:{port}/alerts")
    now = datetime.now(UTC) - timedelta(minutes=1)
    today = now.date()
    history = [delivery(now - timedelta(days=back), asha(f"h{back}-{index}",
                                                         {"nps": index % 10, "budget": 100}))
               for back in range(4, 0, -1) for index in range(25)]
    land(settings, history)
    run(settings, str(today - timedelta(days=4)), str(today - timedelta(days=1)))
    assert box.posts["/alerts"] == [], "a steady history alerts nobody"

    # Today Asha fills callback_slot instead of budget: one message for the agent's two
    # changes, one for the contract's new path.
    # (received after the run above set the contract)
    land(settings, [delivery(datetime.now(UTC), asha(f"t-{index}", {
        "nps": 1, "callback_slot": "evening"})) for index in range(25)])
    run(settings, str(today), only_new_files=True)
    titles = sorted(post["title"] for post in box.posts["/alerts"])
    assert titles == ["OSVI contract violated: crm", "OSVI extraction changed: Asha"], titles
    [change] = [post["message"] for post in box.posts["/alerts"] if "Asha" in post["title"]]
    assert "Asha started filling callback_slot (data_capture)" in change
    assert "Asha stopped filling budget (data_capture)" in change

    # Another micro-batch: the same changes are not sent again.
    land(settings, [delivery(datetime.now(UTC), asha("t-late", {"nps": 2,
                                                                "callback_slot": "noon"}))])
    run(settings, str(today), only_new_files=True)
    assert len(box.posts["/alerts"]) == 2, "an alert is sent once, not once per run"

    assert query(settings, "select section, path, count(*) from contract_violations "
                           "group by all") == [("data_capture", "callback_slot", 26)]
    assert query(settings, "select count(*) from calls where call_date = $d",
                 {"d": today}) == [(26,)], "violating deliveries are loaded all the same"
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        recorded = con.execute("select kind, subject, status from notifications "
                               "order by all").fetchall()
    assert recorded == [
        ("contract_violation", "crm | data_capture | callback_slot", "sent"),
        ("schema_change", "Asha | data_capture | budget | disappeared", "sent"),
        ("schema_change", "Asha | data_capture | callback_slot | appeared", "sent")], recorded
