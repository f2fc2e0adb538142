"""Which landing files can hold a time window's deliveries (landing is split by UTC day)."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingest_api.landing import PARTITION_PREFIX

log = logging.getLogger("osvi.pipeline")


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


def quarantine_unreadable(files: list[str], quarantine_dir: Path) -> tuple[list[str], list[str]]:
    """Split files into readable ones and unreadable ones, moved out of landing.

    A truncated or corrupt file (a disk fault, a bad manual copy) must not fail the whole day:
    it is moved to `quarantine/landing-corrupt/` for someone to look at.
    """
    readable, moved = [], []
    for name in files:
        try:
            pq.read_metadata(name)
        except (OSError, pa.ArrowException) as exc:
            source = Path(name)
            target_dir = quarantine_dir / "landing-corrupt"
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / f"{source.parent.name}-{source.name}"
            shutil.move(source, target)
            log.warning("quarantined unreadable landing file %s -> %s (%s)", source, target, exc)
            moved.append(str(target))
        else:
            readable.append(name)
    return readable, moved
