"""Daily partitions in OSVI_TIMEZONE: a reporting day is a local calendar day."""

from __future__ import annotations

from datetime import date

import dagster as dg


def daily_partitions(timezone: str, first_day: date) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today is a partition too, so the landing sensor can fill it during the day.
    return dg.DailyPartitionsDefinition(start_date=first_day.isoformat(),
                                        timezone=timezone, end_offset=1)
