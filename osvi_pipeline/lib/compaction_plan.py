"""What a landing day's compaction merges and into how many parts (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime


def group_hours(rows_per_hour: Mapping[int, int], part_rows: int) -> list[tuple[int, int]]:
    """Consecutive hours of a day, [first, last) each, of at most `part_rows` rows together
    (an hour above it makes a part alone). Empty hours join their neighbours."""
    groups: list[tuple[int, int]] = []
    if not rows_per_hour:
        return groups
    start, rows = min(rows_per_hour), 0
    for hour in range(min(rows_per_hour), max(rows_per_hour) + 1):
        count = rows_per_hour.get(hour, 0)
        if rows and rows + count > part_rows:
            groups.append((start, hour))
            start, rows = hour, 0
        rows += count
    groups.append((start, max(rows_per_hour) + 1))
    return groups


def covers(windows: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
           ) -> bool:
    """Whether the windows together cover [start, end) without a gap."""
    reached = start
    for window_start, window_end in sorted(windows):
        if window_start > reached:
            break
        reached = max(reached, window_end)
    return reached >= end


def loaded_everywhere(loaded: Mapping[tuple[datetime, datetime], set[str]], start: datetime,
                      end: datetime, listed: Iterable[str]) -> set[str]:
    """The listed files of the day [start, end) that every load of it recorded (`loaded`:
    window -> files it read), when those loads cover the whole day; else none. Merging only
    these keeps the per-file watermark exact: each window that read them reads the parts."""
    windows = {window: files for window, files in loaded.items()
               if window[0] < end and window[1] > start}
    if not windows or not covers(windows, start, end):
        return set()
    return set(listed).intersection(*windows.values())
