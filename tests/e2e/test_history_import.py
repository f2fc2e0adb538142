"""`osvi import`: history from files and stdin lands as deliveries and becomes calls."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from osvi_pipeline.warehouse.landing_files import first_partition_day
from osvi_testkit.processes import OSVI
from tests.support.config import TOKEN, make_settings
from tests.support.landing import read_landing
from tests.support.pipeline import query, run


def body(call_id: str, received_at: str, campaign: str = "summer-2023") -> dict[str, object]:
    return {"call_log_id": call_id, "call_status": "picked", "call_type": "outbound",
            "call_info": {"received_at": received_at},
            "call_trigger_data": {"campaign": campaign}}


def osvi_import(data_dir: Path, *args: str, stdin: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(data_dir), "OSVI_INGEST_TOKEN": TOKEN})
    return subprocess.run([str(OSVI), "import", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_history_older_than_2024_round_trips_into_calls_and_reimports_as_nothing(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    history = tmp_path / "history.jsonl"
    lines = [json.dumps(body("h1", "2023-06-01T09:00:00Z")),
             json.dumps(body("h2", "2023-06-01T10:00:00+05:30")),
             '{"call_log_id": "broken", "call_status": ',  # line 3
             json.dumps(body("h3", "2023-06-02T11:00:00Z")),
             json.dumps(body("h3", "2023-06-02T11:00:00Z"))]  # a retry: two deliveries
    history.write_text("\n".join(lines) + "\n")
    archive = tmp_path / "more.jsonl.gz"
    with gzip.open(archive, "wt") as handle:
        handle.write(json.dumps(body("g1", "2023-06-02T12:00:00Z", "gz")) + "\n")
    array = tmp_path / "export.json"
    array.write_text(json.dumps([body("a1", "2023-06-01T13:00:00Z", "array")]))

    done = osvi_import(settings.data_dir, str(history), str(archive), str(array),
                       "--integration", "crm", "--received-at-field", "call_info.received_at")
    assert done.returncode == 1, "a line was unparseable"
    assert f"{history}:3: body is not valid JSON" in done.stderr
    assert "7 bodies read: stored 7 new deliveries" in done.stdout
    assert "osvi materialize --start 2023-06-01 --end 2023-06-02" in done.stdout

    landed = read_landing(settings.layout.landing_dir).to_pylist()
    assert {row["method"] for row in landed} == {"POST"}
    assert {row["path"] for row in landed} == {"/webhooks/crm"}
    [bad] = [row for row in landed if row["parse_error"]]
    assert bad["body"] == lines[2] and bad["call_log_id"] is None

    assert first_partition_day(settings) == date(2023, 6, 1), "partitions follow the data"
    run(settings, "2023-06-01", "2023-06-02")
    assert query(settings, "select call_log_id, call_date, campaign, delivery_count "
                           "from calls order by 1") == [
        ("a1", date(2023, 6, 1), "array", 1), ("g1", date(2023, 6, 2), "gz", 1),
        ("h1", date(2023, 6, 1), "summer-2023", 1), ("h2", date(2023, 6, 1), "summer-2023", 1),
        ("h3", date(2023, 6, 2), "summer-2023", 2)]
    assert query(settings, "select count(*) from rejected_deliveries") == [(1,)]

    files_before = sorted(settings.layout.landing_dir.rglob("*.parquet"))
    again = osvi_import(settings.data_dir, str(tmp_path), "--integration", "crm",
                        "--received-at-field", "call_info.received_at")
    assert "stored 0 new deliveries, 7 imported before" in again.stdout, again.stdout
    assert sorted(settings.layout.landing_dir.rglob("*.parquet")) == files_before


def test_stdin_dry_run_and_file_time(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    text = json.dumps({"call_log_id": "s1"}) + "\n\n" + json.dumps({"call_log_id": "s2"}) + "\n"
    dry = osvi_import(data_dir, "-", "--integration", "crm", "--dry-run", stdin=text)
    assert dry.returncode == 0, dry.stderr
    assert "2 bodies read: would store 2 new deliveries" in dry.stdout
    assert not list(data_dir.rglob("*.parquet")), "a dry run writes nothing"

    stored = osvi_import(data_dir, "-", "--integration", "crm", stdin=text)
    assert stored.returncode == 0, stored.stderr
    [file] = data_dir.rglob("*.parquet")
    rows = pq.read_table(file).to_pylist()
    assert [row["call_log_id"] for row in rows] == ["s1", "s2"]
    assert json.loads(rows[1]["headers"]) == {"x-osvi-import-source": "<stdin>:3"}


def test_a_file_without_the_received_at_field_uses_its_modification_time(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    history = tmp_path / "old.jsonl"
    history.write_text(json.dumps({"call_log_id": "m1"}) + "\n")
    os.utime(history, (1_690_000_000, 1_690_000_000))  # 2023-07-22T04:26:40Z
    done = osvi_import(settings.data_dir, str(history), "--integration", "crm",
                       "--received-at-field", "call_info.received_at")
    assert done.returncode == 0, done.stderr
    assert "1 bodies had no usable call_info.received_at" in done.stdout
    assert list(settings.layout.landing_dir.glob("received_date=2023-07-22/import-*.parquet"))


def test_unknown_paths_and_integrations_are_refused(tmp_path: Path) -> None:
    missing = osvi_import(tmp_path / "data", str(tmp_path / "nope.jsonl"), "--integration", "crm")
    assert missing.returncode == 2 and "nope.jsonl: no such file or directory" in missing.stderr
    bad_name = osvi_import(tmp_path / "data", "-", "--integration", "a/b", stdin="")
    assert bad_name.returncode == 2 and "--integration 'a/b'" in bad_name.stderr


def test_an_import_overlapping_earlier_ones_stores_only_what_is_new(tmp_path: Path) -> None:
    """Ids are checked against earlier imports in the staging file, not in memory: a file
    imported half-way, then whole and under another name, lands each delivery once, and two
    identical bodies of one file stay two deliveries."""
    settings = make_settings(tmp_path)
    lines = [json.dumps(body(f"o{i}", f"2023-06-0{1 + i % 3}T09:00:00Z")) for i in range(40)]
    lines.append(lines[-1])  # a retry of the last call: a delivery of its own
    half, whole = tmp_path / "half" / "calls.jsonl", tmp_path / "whole" / "calls.jsonl"
    copy = tmp_path / "whole" / "copy.jsonl"
    for path, part in ((half, lines[:20]), (whole, lines), (copy, lines)):
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(part) + "\n")
    field = ("--received-at-field", "call_info.received_at")
    first = osvi_import(settings.data_dir, str(half), "--integration", "crm", *field)
    assert "20 bodies read: stored 20 new deliveries, 0 imported before" in first.stdout
    second = osvi_import(settings.data_dir, str(whole.parent), "--integration", "crm", *field)
    assert "82 bodies read: stored 21 new deliveries, 61 imported before" in second.stdout, \
        second.stdout
    landed = read_landing(settings.layout.landing_dir).to_pylist()
    assert len(landed) == len({row["delivery_id"] for row in landed}) == 41
    assert sorted(row["call_log_id"] for row in landed) == sorted(
        [f"o{i}" for i in range(40)] + ["o39"])
    by_day = {row["received_at"].date().isoformat() for row in landed}
    assert by_day == {"2023-06-01", "2023-06-02", "2023-06-03"}
