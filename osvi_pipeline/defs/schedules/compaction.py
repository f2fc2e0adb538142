"""Every hour: today's settled landing files merged (landing_compaction on today's partition)."""

from datetime import date

import dagster as dg

from osvi_pipeline.defs.jobs import WarehouseJob


def build_compaction_schedule(job: WarehouseJob, timezone: str,
                              first_day: date) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule="40 * * * *", execution_timezone=timezone,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Hourly: today's landing files published 10 minutes ago or more "
                             "and loaded, merged once 1,000 have gathered (the closed days' are "
                             "merged by the daily run).")
    def landing_compaction_schedule(context: dg.ScheduleEvaluationContext
                                    ) -> dg.RunRequest | dg.SkipReason:
        today = context.scheduled_execution_time.date()
        if today < first_day:
            return dg.SkipReason(f"{today} is before the first partition, {first_day}")
        return dg.RunRequest(partition_key=today.isoformat(),
                             run_key=f"compaction-{context.scheduled_execution_time:%Y%m%dT%H}")

    return landing_compaction_schedule
