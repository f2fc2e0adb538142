"""Which OSVI_TIMEZONE days a landing folder (a UTC day) can contain (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def local_days_of_utc_day(utc_day: date, timezone: str) -> list[date]:
    zone = ZoneInfo(timezone)
    start = datetime(utc_day.year, utc_day.month, utc_day.day, tzinfo=UTC)
    last = start + timedelta(days=1) - timedelta(microseconds=1)
    return sorted({start.astimezone(zone).date(), last.astimezone(zone).date()})
