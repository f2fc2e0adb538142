"""Which landing files can hold a time window's deliveries (landing is split by UTC day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest_api.landing import PARTITION_PREFIX


def files_for_window(landing_dir: Path, start: datetime, end: datetime) -> list[str]:
    """Parquet files of every UTC day that overlaps [start, end)."""
    day = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    files: list[str] = []
    while day <= last:
        directory = landing_dir / f"{PARTITION_PREFIX}{day.isoformat()}"
        files.extend(str(path) for path in sorted(directory.glob("*.parquet")))
        day += timedelta(days=1)
    return files


def landed_days(landing_dir: Path) -> list[str]:
    """UTC days that have landing files, oldest first."""
    return sorted(path.name.removeprefix(PARTITION_PREFIX)
                  for path in landing_dir.glob(f"{PARTITION_PREFIX}*")
                  if any(path.glob("*.parquet")))
