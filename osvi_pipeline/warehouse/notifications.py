"""Sending to each OSVI_NOTIFY_URLS target, and the `notifications` table that records it.

The daily summary: a target that fails is tried again with backoff; what happened is a row
per day and target (no secret: the target's name and key only). A scheduled re-run sends only
to the targets that have not received that day's summary; sending never fails the run that
loads data.

Alerts (`kind` 'schema_change' or 'contract_violation'): sent by the run that finds them, one
message per agent or integration, one attempt per run (a failed one is tried by the next run,
no sooner than ALERT_RETRY after the failure, so a run never waits on a target that is down).
Each alert is a row per target with its `subject`; a subject is sent once for its day, and
at most once an hour whatever the day.
"""

from __future__ import annotations

import html
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

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
UPGRADES = [  # tables written before alerts existed
    "alter table notifications add column if not exists kind varchar default 'daily_summary'",
    "alter table notifications add column if not exists subject varchar",  # alerts: what
]
SUMMARY = "daily_summary"
ALERT_RETRY = timedelta(minutes=5)
ALERT_REPEAT = timedelta(hours=1)


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


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(NOTIFICATIONS_DDL)
    for statement in UPGRADES:
        con.execute(statement)


def targets_sent(con: duckdb.DuckDBPyConnection, day: date) -> set[str]:
    prepare(con)
    return {row[0] for row in con.execute(
        "select target_key from notifications where call_date = $day and status = 'sent' "
        "and kind = $kind", {"day": day, "kind": SUMMARY}).fetchall()}


def record(con: duckdb.DuckDBPyConnection, day: date, outcomes: list[Outcome]) -> None:
    _insert(con, [(day, outcome, SUMMARY, None) for outcome in outcomes])


def _insert(con: duckdb.DuckDBPyConnection,
            rows: list[tuple[date, Outcome, str, str | None]]) -> None:
    """(day, outcome, kind, subject) rows, sent now."""
    prepare(con)
    now = datetime.now(UTC)
    con.executemany("insert into notifications by name select $1 as call_date, $2 as target, "
                    "$3 as target_key, $4 as status, $5 as attempts, $6 as error, "
                    "$7 as sent_at, $8 as kind, $9 as subject", [
        (day, o.target.name, o.target.key, "sent" if o.sent else "failed", o.attempts, o.error,
         now, kind, subject) for day, o, kind, subject in rows])


@dataclass(frozen=True)
class Alert:
    kind: str  # schema_change | contract_violation
    day: date
    about: str  # the agent or the integration: one message each
    subject: str  # what changed, as recorded (no personal data: names of agents and paths)
    line: str  # for people


# Changes and violations from `since` on; subject identifies one across runs.
ALERTS = """
select 'schema_change' as kind, change_date as day, agent_name as about,
       concat_ws(' | ', agent_name, section, path, change) as subject, agent_name, section,
       path, change, detail, null::bigint as deliveries
from schema_changes where change_date >= $since
union all
select 'contract_violation', received_day, integration,
       concat_ws(' | ', integration, section, path), integration, section, path, null, null,
       count(*)
from contract_violations where received_day >= $since
group by all
"""
# Per target (a key of $keys), the alerts it has not had: not one whose subject it got for
# that day or within ALERT_REPEAT, and none at all for a target whose last try failed within
# ALERT_RETRY (the next run after that tries again).
PENDING = f"""
with alerts as ({ALERTS}),
targets as (select unnest($keys::varchar[]) as target_key)
select t.target_key, a.*
from targets as t
cross join alerts as a
where t.target_key not in (
        select target_key from notifications
        where kind <> $summary and status = 'failed' and sent_at >= $retry_after)
  and not exists (
        select 1 from notifications as n
        where n.target_key = t.target_key and n.kind = a.kind and n.subject = a.subject
          and n.status = 'sent' and (n.call_date = a.day or n.sent_at >= $repeat_after))
order by all
"""


def pending_alerts(con: duckdb.DuckDBPyConnection, targets: list[Target], since: date,
                   now: datetime, describe: dict[str, Callable[[tuple[object, ...]], str]]
                   ) -> dict[Target, list[Alert]]:
    """Per target, the alerts it has not had; `describe` turns a row's tail into a line."""
    prepare(con)
    by_key = {target.key: target for target in targets}
    pending: dict[Target, list[Alert]] = defaultdict(list)
    for key, kind, day, about, subject, *rest in con.execute(PENDING, {
            "since": since, "keys": list(by_key), "summary": SUMMARY,
            "retry_after": now - ALERT_RETRY, "repeat_after": now - ALERT_REPEAT}).fetchall():
        pending[by_key[key]].append(Alert(kind, day, about, subject, describe[kind](tuple(rest))))
    return dict(pending)


def alert_messages(alerts: list[Alert]) -> list[tuple[Message, list[Alert]]]:
    """One message per agent (schema changes) or integration (contract violations)."""
    grouped: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    for alert in alerts:
        grouped[(alert.kind, alert.about)].append(alert)
    messages = []
    for (kind, about), group in sorted(grouped.items()):
        title = (f"OSVI extraction changed: {about}" if kind == "schema_change"
                 else f"OSVI contract violated: {about}")
        lines = [f"- {alert.day}: {alert.line}" for alert in group]
        text = "\n".join([title, *lines])
        messages.append((Message(title, text, "<br>".join(html.escape(line) for line in
                                                          [title, *lines])), group))
    return messages


def record_alerts(con: duckdb.DuckDBPyConnection, outcome: Outcome,
                  alerts: list[Alert]) -> None:
    _insert(con, [(alert.day, outcome, alert.kind, alert.subject) for alert in alerts])
