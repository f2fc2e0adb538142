"""Which landing files can hold a time window's deliveries (landing is split by UTC day)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from ingest_api.landing import (
    LANDING_SCHEMA,
    OPTIONAL_COLUMNS,
    PARTITION_PREFIX,
    REQUIRED_COLUMNS,
    quarantine_file,
)
from ingest_api.settings import Settings
from osvi_pipeline.lib.local_days import local_days_of_utc_day


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


def first_partition_day(settings: Settings) -> date:
    """The first daily partition: OSVI_FIRST_DAY, else the OSVI_TIMEZONE day of the earliest
    landed delivery (imported history included), else today. Following the data keeps the UI's
    partitions to days that can hold deliveries (a fixed 2024-01-01 showed years of empty
    days, and refused older history)."""
    if settings.first_day is not None:
        return settings.first_day
    days = landed_days(settings.landing_dir)
    if days:
        return local_days_of_utc_day(date.fromisoformat(days[0]), settings.timezone)[0]
    return datetime.now(ZoneInfo(settings.timezone)).date()


def landed_days(landing_dir: Path) -> list[str]:
    """UTC days that have landing files, oldest first."""
    return sorted(path.name.removeprefix(PARTITION_PREFIX)
                  for path in landing_dir.glob(f"{PARTITION_PREFIX}*")
                  if any(path.glob("*.parquet")))


@dataclass
class LandingInventory:
    """The window's landing files after checking their footers."""

    readable: list[str] = field(default_factory=list)
    quarantined: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}
    optional_present: set[str] = field(default_factory=set)  # optional columns some file has
    ignored_columns: dict[str, int] = field(default_factory=dict)  # unknown column -> files

    def select_list(self) -> str:
        """The landing columns by name: an optional column no file has is null."""
        return ", ".join(name if name in REQUIRED_COLUMNS or name in self.optional_present
                         else f"null::varchar as {name}" for name in LANDING_SCHEMA.names)


def inspect_landing_files(files: list[str], quarantine_dir: Path) -> LandingInventory:
    """Check each file's footer; move out of landing the ones the day cannot load.

    A truncated or corrupt file (a disk fault, a bad manual copy) or one without a column the
    contract requires must not fail the whole day: it goes to `quarantine/landing-corrupt/` or
    `quarantine/landing-incompatible/` with its reason beside it, for someone to look at.
    """
    inventory = LandingInventory()
    for name in files:
        try:
            columns = pq.read_schema(name).names
        except (OSError, pa.ArrowException) as exc:
            _quarantine(inventory, name, quarantine_dir / "landing-corrupt",
                        f"unreadable Parquet: {exc}")
            continue
        missing = [column for column in REQUIRED_COLUMNS if column not in columns]
        if missing:
            _quarantine(inventory, name, quarantine_dir / "landing-incompatible",
                        f"missing required column(s): {', '.join(missing)}")
            continue
        inventory.readable.append(name)
        inventory.optional_present.update(set(columns) & set(OPTIONAL_COLUMNS))
        for column in set(columns) - set(LANDING_SCHEMA.names):
            inventory.ignored_columns[column] = inventory.ignored_columns.get(column, 0) + 1
    return inventory


def _quarantine(inventory: LandingInventory, name: str, target_dir: Path, reason: str) -> None:
    moved = quarantine_file(Path(name), target_dir, reason)
    inventory.quarantined.append({"file": str(moved), "reason": reason})
