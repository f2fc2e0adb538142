"""`extraction_alerts`: tell OSVI_NOTIFY_URLS the moment a run finds an extraction change or a
contract violation, not only in the next morning's summary. Runs after the publication, so a
slow target never delays what analysts see."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from osvi_pipeline.defs.resources import WAREHOUSE_POOL, NotifyTargets, OsviOptions, WarehouseDuckDB
from osvi_pipeline.lib.report_render import SchemaChange, describe_change, describe_violation
from osvi_pipeline.warehouse.notifications import (
    alert_messages,
    pending_alerts,
    record_alerts,
    send,
)
from osvi_pipeline.warehouse.queries import table_exists

# A backfill of last month must not page anyone: only changes of today and yesterday alert.
ALERT_DAYS = 2


def _change(row: tuple[object, ...]) -> str:
    agent, section, path, change, detail = (None if value is None else str(value)
                                            for value in row[:5])
    return describe_change(SchemaChange(str(agent), str(section), str(path), str(change),
                                        detail))


def _violation(row: tuple[object, ...]) -> str:
    return describe_violation(str(row[0]), str(row[1]), str(row[2]), int(str(row[5])))


DESCRIBE: dict[str, Callable[[tuple[object, ...]], str]] = {
    "schema_change": _change, "contract_violation": _violation}


@dg.asset(deps=["schema_changes", "contract_violations", "warehouse_snapshot"],
          kinds={"duckdb"}, pool=WAREHOUSE_POOL, group_name="publish",
          description="Alerts OSVI_NOTIFY_URLS to today's and yesterday's schema_changes and "
                      "contract_violations as soon as a run finds them: one message per agent "
                      "or integration, each change once (and at most once an hour), recorded "
                      "in notifications.")
def extraction_alerts(context: dg.AssetExecutionContext, duckdb: WarehouseDuckDB,
                      osvi: OsviOptions, notify: NotifyTargets
                      ) -> dg.MaterializeResult:  # type: ignore[type-arg]
    targets = notify.targets
    now = datetime.now(UTC)
    since = now.astimezone(ZoneInfo(osvi.timezone)).date() - timedelta(days=ALERT_DAYS - 1)
    with duckdb.get_connection() as con:
        ready = all(table_exists(con, "main", table)
                    for table in ("schema_changes", "contract_violations"))
        pending = pending_alerts(con, targets, since, now, DESCRIBE) if targets and ready else {}
    sent = failed = 0
    for target, alerts in pending.items():
        for message, group in alert_messages(alerts):
            outcome = send(target, message, attempts=1, backoff_seconds=0)
            with duckdb.get_connection() as con:
                record_alerts(con, outcome, group)
            if outcome.sent:
                sent += len(group)
            else:
                failed += len(group)
                context.log.warning(f"alert not delivered to {target.name}: {outcome.error}")
                break  # the rest waits for the next try, with this one
    return dg.MaterializeResult(metadata={"alerts sent": dg.MetadataValue.int(sent),
                                          "alerts not delivered": dg.MetadataValue.int(failed),
                                          "targets": dg.MetadataValue.int(len(targets))})
