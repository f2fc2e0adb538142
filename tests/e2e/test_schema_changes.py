"""`schema_changes` on a history imported day by day with `osvi import --received-at-field`,
each change planted on a known day, then `osvi materialize`: exact rows, and the same rows when
the days are materialized again."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.defs.checks.warehouse import SCHEMA_CHANGES_CHECK
from osvi_pipeline.runtime.materialize import materialize_days
from osvi_testkit.processes import OSVI

pytestmark = pytest.mark.slow
FIRST = date(2026, 10, 1)
DAYS = [FIRST + timedelta(days=offset) for offset in range(8)]  # day 1 .. day 8


def asha_call(day_number: int, index: int) -> dict[str, object]:
    """Asha: 25 calls a day. callback_slot appears on day 5; budget is dropped on day 5 after
    four steady days; score turns from a number into text on day 6; condition `escalated`
    appears on day 7 (with a leaf of its own, while `slot` stays on every `confirmed` call);
    language appears on day 8, when email falls from 88% of calls to 16%."""
    capture: dict[str, object] = {"appointment_confirmed": index % 2 == 0, "nps": index % 10}
    if day_number >= 5:
        capture["callback_slot"] = "evening"
    else:
        capture["budget"] = 1000 + index
    capture["score"] = f"grade {index % 3}" if day_number >= 6 else index % 5 + 0.5
    if day_number == 8:
        capture["language"] = "hi"  # the latest day's change: the WARN check fires on it
    if (index % 10 != 0) if day_number < 8 else (index < 4):  # 88% of calls, then 16%
        capture["email"] = f"a{index}@example.com"
    escalated = day_number >= 7 and index < 5
    output = ({"_matched_condition": "escalated", "reason": "angry"} if escalated
              else {"_matched_condition": "confirmed", "slot": "10:00"})
    return {"call_log_id": f"a{day_number}-{index}", "agent_name": "Asha",
            "received_at": f"{DAYS[day_number - 1]}T09:{index:02d}:00+00:00",
            "data_capture": capture, "structured_output": output,
            "call_trigger_data": {"campaign": "Renewals"}}


def tiny_call(day_number: int, index: int) -> dict[str, object]:
    """Tiny: 3 calls a day, drops `budget` on day 5: too small a day to tell."""
    capture = {"budget": 5} if day_number < 5 else {"nps": 7}
    return {"call_log_id": f"t{day_number}-{index}", "agent_name": "Tiny",
            "received_at": f"{DAYS[day_number - 1]}T10:{index:02d}:00+00:00",
            "data_capture": capture, "call_trigger_data": {"campaign": "Pilot"}}


def test_planted_changes_are_found_on_their_day_and_nothing_else(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    with history.open("w", encoding="utf-8") as out:
        for day_number in range(1, 9):
            for index in range(25):
                out.write(json.dumps(asha_call(day_number, index)) + "\n")
            for index in range(3):
                out.write(json.dumps(tiny_call(day_number, index)) + "\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(tmp_path / "data"), "OSVI_TIMEZONE": "UTC"})
    for command in (["import", str(history), "--integration", "crm", "--received-at-field",
                     "received_at"],
                    ["materialize", "--start", str(DAYS[0]), "--end", str(DAYS[-1])]):
        done = subprocess.run([str(OSVI), *command], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    def changes() -> list[tuple[object, ...]]:
        with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
            return con.execute("select change_date::varchar, agent_name, section, path, change, "
                               "detail from schema_changes order by all").fetchall()

    day = {number: str(DAYS[number - 1]) for number in range(1, 9)}
    expected = sorted([
        (day[5], "Asha", "data_capture", "budget", "disappeared",
         "absent from all 25 calls, after 3 days with it"),
        (day[5], "Asha", "data_capture", "callback_slot", "appeared", None),
        (day[6], "Asha", "data_capture", "score", "type_changed", "number -> string"),
        (day[7], "Asha", "structured_output", "_matched_condition=escalated", "appeared", None),
        (day[7], "Asha", "structured_output", "reason", "appeared", None),
        (day[5], "Tiny", "data_capture", "nps", "appeared", None),
        (day[8], "Asha", "data_capture", "language", "appeared", None),
    ], key=lambda row: tuple("" if value is None else str(value) for value in row))
    assert sorted(changes(), key=lambda row: tuple(
        "" if value is None else str(value) for value in row)) == expected

    # Fill rates: the drops are flagged; the steady fields, the leaf of one condition when
    # another appears, and the small campaign's drop are not.
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        flagged = con.execute("select call_date::varchar, campaign, metric, round(value, 2), "
                              "round(baseline, 2) from campaign_flags where flagged and "
                              "metric like 'fill_rate:%' order by all").fetchall()
        tested = con.execute("select count(*) from campaign_flags where metric = "
                             "'fill_rate:structured_output.slot' and p_value is not null "
                             "and call_date = $day", {"day": day[7]}).fetchall()
    # (a lasting drop stays flagged while the trailing week still holds the days before it)
    assert flagged == [(day[5], "Renewals", "fill_rate:budget", 0.0, 1.0),
                       (day[6], "Renewals", "fill_rate:budget", 0.0, 0.8),
                       (day[7], "Renewals", "fill_rate:budget", 0.0, 0.67),
                       (day[8], "Renewals", "fill_rate:budget", 0.0, 0.57),
                       (day[8], "Renewals", "fill_rate:email", 0.16, 0.88)], flagged
    assert tested == [(1,)], "slot was tested on day 7, among the confirmed calls"

    again = subprocess.run([str(OSVI), "materialize", "--start", str(DAYS[2]), "--end",
                            str(DAYS[6])], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert sorted(changes(), key=lambda row: tuple(
        "" if value is None else str(value) for value in row)) == expected, "a backfill"

    # Where people see it: the day's summary says so first, and the WARN check fires.
    report = subprocess.run([str(OSVI), "report", "daily", "--date", day[5]], env=env,
                            capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "data" / "reports" / "daily" / f"{day[5]}.md").read_text()
    first_lines = markdown.splitlines()[2:5]
    assert first_lines == [
        "- extraction changed: Asha stopped filling budget (data_capture): absent from all 25 "
        "calls, after 3 days with it",
        "- extraction changed: Asha started filling callback_slot (data_capture)",
        "- extraction changed: Tiny started filling nps (data_capture)"], first_lines
    settings = Settings(data_dir=tmp_path / "data", timezone="UTC")
    result = materialize_days(settings, DAYS[-1], DAYS[-1])
    [check] = [evaluation for evaluation in result.get_asset_check_evaluations()
               if evaluation.check_name == SCHEMA_CHANGES_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["changes"].value == [
        "Asha started filling language (data_capture)"]
