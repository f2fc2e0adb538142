"""Daily partitions in OSVI_TIMEZONE: a reporting day is a local calendar day."""

from __future__ import annotations

import dagster as dg

from osvi_pipeline.settings import FIRST_PARTITION_DAY


def daily_partitions(timezone: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today is a partition too, so the landing sensor can fill it during the day.
    return dg.DailyPartitionsDefinition(start_date=FIRST_PARTITION_DAY.isoformat(),
                                        timezone=timezone, end_offset=1)
