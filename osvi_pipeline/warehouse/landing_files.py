"""Which landing files can hold a time window's deliveries (landing is split by UTC day), on
a local folder or a bucket (osvi_core.landing_store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
from duckdb import DuckDBPyConnection

from osvi_core.landing import LANDING_SCHEMA, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from osvi_core.landing_store import LandingStore, landing_store_for
from osvi_core.settings import Settings
from osvi_pipeline.lib.local_days import local_days_of_utc_day


def utc_days_of_window(start: datetime, end: datetime) -> list[str]:
    day = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    days = []
    while day <= last:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def files_for_window(store: LandingStore, start: datetime, end: datetime) -> list[str]:
    """Parquet files of every UTC day that overlaps [start, end)."""
    return [file.path for day in utc_days_of_window(start, end) for file in store.files(day)]


def register_landing(con: DuckDBPyConnection, store: LandingStore) -> None:
    """Let DuckDB's read_parquet open the store's paths: a bucket is read through its fsspec
    filesystem (DuckDB's own httpfs extension is not needed, nor always available)."""
    filesystem = store.filesystem()
    if filesystem is not None and filesystem.protocol[0] not in con.list_filesystems():
        con.register_filesystem(filesystem)


def first_partition_day(settings: Settings) -> date:
    """The first daily partition: OSVI_FIRST_DAY, else the OSVI_TIMEZONE day of the earliest
    landed delivery (imported history included), else today. Following the data keeps the UI's
    partitions to days that can hold deliveries (a fixed 2024-01-01 showed years of empty
    days, and refused older history)."""
    if settings.first_day is not None:
        return settings.first_day
    days = landing_store_for(settings).days()
    if days:
        return local_days_of_utc_day(date.fromisoformat(days[0]), settings.timezone)[0]
    return datetime.now(ZoneInfo(settings.timezone)).date()


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


def inspect_landing_files(files: list[str], store: LandingStore) -> LandingInventory:
    """Check each file's footer; move out of landing the ones the day cannot load.

    A truncated or corrupt file (a disk fault, a bad manual copy, something else dropped in
    the bucket) or one without a column the contract requires must not fail the whole day: it
    goes to `landing-corrupt/` or `landing-incompatible/` under the quarantine folder (or the
    bucket's `_quarantine/` prefix) with its reason beside it, for someone to look at.
    """
    inventory = LandingInventory()
    for name in files:
        try:
            with store.open(name) as handle:
                columns = pq.read_schema(handle).names
        except (OSError, ValueError, pa.ArrowException) as exc:
            _quarantine(inventory, store, name, "landing-corrupt", f"unreadable Parquet: {exc}")
            continue
        missing = [column for column in REQUIRED_COLUMNS if column not in columns]
        if missing:
            _quarantine(inventory, store, name, "landing-incompatible",
                        f"missing required column(s): {', '.join(missing)}")
            continue
        inventory.readable.append(name)
        inventory.optional_present.update(set(columns) & set(OPTIONAL_COLUMNS))
        for column in set(columns) - set(LANDING_SCHEMA.names):
            inventory.ignored_columns[column] = inventory.ignored_columns.get(column, 0) + 1
    return inventory


def _quarantine(inventory: LandingInventory, store: LandingStore, name: str, category: str,
                reason: str) -> None:
    moved = store.quarantine(name, category, reason)
    inventory.quarantined.append({"file": moved, "reason": reason})
