"""The daily summary reaches people: real Apprise sends to a local HTTP receiver (json://) and a
local SMTP server (aiosmtpd, mailto://), a refusing target, re-runs and the CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from aiosmtpd.controller import Controller

from osvi_core.settings import Settings
from osvi_pipeline.definitions import build_definitions
from osvi_pipeline.defs.assets.report import SEND_TAG
from osvi_testkit.processes import OSVI, free_port
from tests.support.campaigns import FIRST, LAST, land_flag_history
from tests.support.config import TOKEN, make_settings
from tests.support.pipeline import run
from tests.support.receivers import Inbox

SECRET = "hunter2-not-for-logs"


@pytest.fixture
def mailbox() -> Iterator[tuple[list[bytes], int]]:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object,
                              envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield received, port
    controller.stop()


def _urls(http_port: int, smtp_port: int) -> str:
    return (f"json://127.0.0.1:{http_port}/chat, "
            f"json://osvi:{SECRET}@127.0.0.1:{http_port}/down, "
            f"mailto://127.0.0.1:{smtp_port}?from=osvi@example.com&to=team@example.com"
            "&mode=insecure")


def _scheduled_run(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """What the 00:15 schedule launches: the closed day, tagged to send."""
    job = build_definitions(settings).resolve_job_def("warehouse_job")
    return job.execute_in_process(partition_key=LAST.isoformat(), instance=instance,
                                  tags={SEND_TAG: "true"})


def _html_part(raw: bytes) -> str:
    message = message_from_bytes(raw)
    parts = {part.get_content_type(): part.get_payload(decode=True)
             for part in message.walk() if not part.is_multipart()}
    assert "text/plain" in parts, "a text alternative for mail clients without HTML"
    return bytes(parts["text/html"]).decode("utf-8")


def test_the_schedule_sends_once_to_each_target_and_retries_only_the_failed_one(
        tmp_path: Path, inbox: tuple[Inbox, int], mailbox: tuple[list[bytes], int]) -> None:
    box, http_port = inbox
    mails, smtp_port = mailbox
    settings = make_settings(tmp_path, notify_urls=_urls(http_port, smtp_port),
                             notify_attempts=2, notify_backoff_seconds=0,
                             report_base_url="https://reports.example.com/osvi")
    land_flag_history(settings)
    run(settings, FIRST.isoformat(), LAST.isoformat())
    assert not box.posts and not mails, "runs the sensor launches send nothing"

    box.refusing.add("/down")
    instance = dg.DagsterInstance.ephemeral()
    first = _scheduled_run(settings, instance)
    assert first.success, "a target that refuses never fails the run"
    [chat] = box.posts["/chat"]
    assert chat["title"] == f"OSVI calls on {LAST}: 43 calls"
    assert chat["message"].startswith(f"43 calls across 2 campaigns on {LAST}")
    assert "Renewals: appointment_confirmed true rate 30% against 80%" in chat["message"]
    assert f"Report: https://reports.example.com/osvi/daily/{LAST}.html" in chat["message"]
    assert "Pilot" not in chat["message"].split("Needs attention:")[1], "noise is not flagged"
    assert box.refused["/down"] == 2, "tried again once (notify_attempts=2)"
    [mail] = mails
    page = _html_part(mail)
    assert "<svg" in page and "Needs attention" in page and "Weekly: no calls" in page
    [check] = [c for c in first.get_asset_check_evaluations()
               if c.check_name == "summary_delivered"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    logs = " ".join(str(entry.user_message) for entry in instance.all_logs(first.run_id))
    assert "not delivered to json://osvi:****@127.0.0.1" in logs and SECRET not in logs

    box.refusing.clear()
    second = _scheduled_run(settings, instance)
    assert second.success
    assert len(box.posts["/chat"]) == 1 and len(mails) == 1, "sent ones are not sent again"
    assert len(box.posts["/down"]) == 1, "the failed target gets it on the re-run"
    [check] = [c for c in second.get_asset_check_evaluations()
               if c.check_name == "summary_delivered"]
    assert check.passed
    with duckdb.connect(str(settings.layout.pipeline_warehouse_path), read_only=True) as con:
        rows = con.execute("select target, status, attempts from notifications "
                           "order by sent_at, target").fetchall()
    assert [(target.rsplit("/", 1)[-1], status, attempts)
            for target, status, attempts in rows] == [
        ("chat", "sent", 1), ("down", "failed", 2), ("team%40example.com", "sent", 1),
        ("down", "sent", 1)], rows
    assert not any(SECRET in target for target, _, _ in rows)

    # By hand, --send always sends, to every target.
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(settings.data_dir), "OSVI_INGEST_TOKEN": TOKEN,
                "OSVI_NOTIFY_URLS": _urls(http_port, smtp_port),
                "OSVI_NOTIFY_BACKOFF_SECONDS": "0"})
    done = subprocess.run([str(OSVI), "report", "daily", "--date", LAST.isoformat(), "--send"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(box.posts["/chat"]) == 2 and len(box.posts["/down"]) == 2 and len(mails) == 2
    assert SECRET not in done.stdout + done.stderr


def test_a_malformed_notify_url_is_named_without_its_secret(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(tmp_path / "data"), "OSVI_INGEST_TOKEN": TOKEN,
                "OSVI_NOTIFY_URLS": f"json://127.0.0.1/ok, slackx://{SECRET}@hooks.example"})
    done = subprocess.run([str(OSVI), "report", "daily"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "OSVI_NOTIFY_URLS: entry 2 (slackx://...)" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_an_smtp_server_that_is_down_is_a_warning_not_a_failed_run(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    settings = make_settings(
        tmp_path, notify_attempts=2, notify_backoff_seconds=0,
        notify_urls=f"mailto://127.0.0.1:{closed}?from=osvi@example.com&to=team@example.com"
                    "&mode=insecure")
    land_flag_history(settings)
    run(settings, FIRST.isoformat(), LAST.isoformat())
    result = _scheduled_run(settings, dg.DagsterInstance.ephemeral())
    assert result.success
    [check] = [c for c in result.get_asset_check_evaluations()
               if c.check_name == "summary_delivered"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    with duckdb.connect(str(settings.layout.pipeline_warehouse_path), read_only=True) as con:
        assert con.execute("select status, attempts from notifications").fetchall() == [
            ("failed", 2)]
