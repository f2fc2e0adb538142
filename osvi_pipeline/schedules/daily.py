"""Shortly after each midnight in OSVI_TIMEZONE: the day that just closed, and its summary."""

from datetime import timedelta

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (  # no public alias
    UnresolvedAssetJobDefinition,
)


def build_daily_schedule(job: UnresolvedAssetJobDefinition,
                         timezone: str) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule="15 0 * * *", execution_timezone=timezone,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="00:15 every day: the closed day, the marts and the daily report.")
    def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        closed = (context.scheduled_execution_time - timedelta(days=1)).date()
        return dg.RunRequest(partition_key=closed.isoformat(), run_key=f"daily-{closed}")

    return daily_schedule
