"""Sending the daily summary to each target, and the `notifications` table that records it.

A target that fails is tried again with backoff; what happened is a row per day and target
(no secret: the target's name and key only). A scheduled re-run sends only to the targets
that have not received that day's summary; sending never fails the run that loads data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import apprise
import duckdb

from osvi_pipeline.lib.notify_targets import Target
from osvi_pipeline.lib.report_render import DailyReport, render_chat_text

NOTIFICATIONS_DDL = """
create table if not exists notifications (
    call_date date not null,   -- the summary's day
    target varchar not null,   -- the target without its secrets
    target_key varchar not null,
    status varchar not null,   -- sent | failed
    attempts bigint not null,
    error varchar,
    sent_at timestamptz not null
)
"""


@dataclass(frozen=True)
class Message:
    title: str
    text: str  # chat targets: the headline numbers, the flags, a link
    html: str  # email targets: the whole report, inline


@dataclass(frozen=True)
class Outcome:
    target: Target
    sent: bool
    attempts: int
    error: str | None


def summary_message(report: DailyReport, html: str, report_base_url: str | None) -> Message:
    """The day's summary as sent: chat text with a link when the reports are served, the
    HTML report for email."""
    day = report.summary.day.isoformat()
    link = (f"{report_base_url.rstrip('/')}/daily/{day}.html" if report_base_url else None)
    return Message(f"OSVI calls on {day}: {report.summary.calls} calls",
                   render_chat_text(report, link), html)


def send(target: Target, message: Message, attempts: int, backoff_seconds: float) -> Outcome:
    """Try up to `attempts` times, waiting backoff, 2x backoff, ... in between."""
    error = None
    for attempt in range(1, attempts + 1):
        notifier = apprise.Apprise()
        notifier.add(target.url)
        with apprise.LogCapture(  # type: ignore[no-untyped-call]
                level=apprise.logging.WARNING) as captured:
            ok = notifier.notify(
                title=message.title,
                body=message.html if target.is_email else message.text,
                body_format=(apprise.NotifyFormat.HTML if target.is_email
                             else apprise.NotifyFormat.TEXT))
        if ok:
            return Outcome(target, True, attempt, None)
        error = _first_line(captured.getvalue(), target)
        if attempt < attempts:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return Outcome(target, False, attempts, error)


def _first_line(log: str, target: Target) -> str:
    """Apprise's reason, with the target's URL taken out should it appear."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    reason = lines[-1] if lines else "the target did not accept the message"
    return reason.replace(target.url, target.name)[:500]


def targets_sent(con: duckdb.DuckDBPyConnection, day: date) -> set[str]:
    con.execute(NOTIFICATIONS_DDL)
    return {row[0] for row in con.execute(
        "select target_key from notifications where call_date = $day and status = 'sent'",
        {"day": day}).fetchall()}


def record(con: duckdb.DuckDBPyConnection, day: date, outcomes: list[Outcome]) -> None:
    con.execute(NOTIFICATIONS_DDL)
    now = datetime.now(UTC)
    con.executemany("insert into notifications values ($1, $2, $3, $4, $5, $6, $7)", [
        (day, o.target.name, o.target.key, "sent" if o.sent else "failed", o.attempts, o.error,
         now) for o in outcomes])
