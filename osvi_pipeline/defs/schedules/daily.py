"""Shortly after each midnight in OSVI_TIMEZONE: the day that just closed, and its summary."""

from datetime import date, timedelta

import dagster as dg

from osvi_pipeline.defs.assets.report import SEND_TAG
from osvi_pipeline.defs.jobs import WarehouseJob
from osvi_pipeline.defs.tags import RETENTION_TAG


def build_daily_schedule(job: WarehouseJob, timezone: str,
                         first_day: date) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule="15 0 * * *", execution_timezone=timezone,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="00:15 every day: the closed day, the marts and the daily report, "
                             "sent to OSVI_NOTIFY_URLS.")
    def daily_schedule(context: dg.ScheduleEvaluationContext
                       ) -> dg.RunRequest | dg.SkipReason:
        closed = (context.scheduled_execution_time - timedelta(days=1)).date()
        if closed < first_day:  # nothing had landed yet that day
            return dg.SkipReason(f"{closed} is before the first partition, {first_day}")
        return dg.RunRequest(partition_key=closed.isoformat(), run_key=f"daily-{closed}",
                             # this run sends the summary, and applies OSVI_RETENTION_DAYS
                             tags={SEND_TAG: "true", RETENTION_TAG: "true"})

    return daily_schedule
