"""Landing: immutable, Hive-partitioned Parquet files, one row per delivery (CONTRACT.md).

A file becomes visible only complete: written under a hidden temp name, fsynced, renamed, and
its directory fsynced. Temp names carry the writer's pid so a restart can tell an abandoned temp
file (its writer is dead) from one another worker is still writing.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger("osvi.landing")

# Explicit so every file has identical types, even a batch whose rows all lack a column.
LANDING_SCHEMA = pa.schema(
    [
        pa.field("delivery_id", pa.string(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("integration", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("query", pa.string()),
        pa.field("headers", pa.string(), nullable=False),
        pa.field("body", pa.string()),
        pa.field("body_sha256", pa.string()),
        pa.field("call_log_id", pa.string()),
        pa.field("parse_error", pa.string()),
        # Beyond the contract: the raw bytes, base64, only when the body is not valid UTF-8
        # (Parquet strings must be UTF-8, and authenticated bytes are never thrown away).
        pa.field("body_base64", pa.string()),
    ]
)

PARTITION_PREFIX = "received_date="
_STATISTICS_COLUMNS = ["delivery_id", "received_at", "integration", "call_log_id"]
_DICTIONARY_COLUMNS = ["integration", "method", "path"]
_TEMP_RE = re.compile(r"^\.(?P<pid>\d+)-[0-9a-f]+\.parquet\.tmp$")


@dataclass(frozen=True, slots=True)
class LandingRow:
    delivery_id: str
    received_at: datetime
    integration: str
    method: str
    path: str
    query: str | None
    headers: str
    body: str | None
    body_sha256: str | None
    call_log_id: str | None
    parse_error: str | None
    body_base64: str | None = None


class LandingWriter:
    """Writes batches of rows durably; safe to call from one thread at a time."""

    def __init__(self, landing_dir: Path) -> None:
        self.landing_dir = landing_dir
        self._pid = os.getpid()
        self._sequence = itertools.count()
        self._known_dirs: set[Path] = set()

    def write(self, rows: Sequence[LandingRow]) -> list[Path]:
        """Write rows (split by UTC receipt date) and return the published files."""
        by_date: dict[str, list[LandingRow]] = defaultdict(list)
        for row in rows:
            by_date[row.received_at.strftime("%Y-%m-%d")].append(row)
        return [self._write_partition(day, day_rows) for day, day_rows in by_date.items()]

    def _write_partition(self, day: str, rows: Sequence[LandingRow]) -> Path:
        directory = self._partition_dir(day)
        stamp = rows[0].received_at.strftime("%H%M%S%f")
        unique = f"{stamp}-{self._pid}-{next(self._sequence):06d}-{uuid.uuid4().hex[:8]}"
        final = directory / f"{unique}.parquet"
        temp = directory / f".{self._pid}-{uuid.uuid4().hex}.parquet.tmp"
        data = encode_parquet(rows)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        fsync_dir(directory)
        return final

    def _partition_dir(self, day: str) -> Path:
        directory = self.landing_dir / f"{PARTITION_PREFIX}{day}"
        if directory not in self._known_dirs:
            if not directory.is_dir():
                directory.mkdir(parents=True, exist_ok=True)
                fsync_dir(directory.parent)  # the new directory entry itself must be durable
            self._known_dirs.add(directory)
        return directory

    def probe(self) -> None:
        """Raise OSError unless a file can be created and synced in the landing directory."""
        self.landing_dir.mkdir(parents=True, exist_ok=True)
        probe = self.landing_dir / f".{self._pid}-{uuid.uuid4().hex}.parquet.tmp"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"ok")
                os.fsync(handle.fileno())
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()


def encode_parquet(rows: Sequence[LandingRow]) -> memoryview:
    """The rows as one Parquet file in memory (Arrow's native sink: no Python-level writes)."""
    arrays = [pa.array([getattr(row, field.name) for row in rows], type=field.type)
              for field in LANDING_SCHEMA]
    sink = pa.BufferOutputStream()
    pq.write_table(
        pa.Table.from_arrays(arrays, schema=LANDING_SCHEMA), sink, compression="zstd",
        # Min/max of whole bodies would triple the file for no pruning benefit; keep them
        # where readers filter. Dictionaries only pay off on the repetitive columns.
        write_statistics=_STATISTICS_COLUMNS, use_dictionary=_DICTIONARY_COLUMNS,
    )
    return memoryview(sink.getvalue())


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def quarantine_abandoned_temp_files(landing_dir: Path, quarantine_dir: Path) -> list[Path]:
    """Move temp files whose writer is gone out of the landing tree; they were never acked."""
    moved: list[Path] = []
    if not landing_dir.exists():
        return moved
    for temp in landing_dir.rglob(".*.parquet.tmp"):
        match = _TEMP_RE.match(temp.name)
        if match and _process_alive(int(match["pid"])) and int(match["pid"]) != os.getpid():
            continue
        target_dir = quarantine_dir / "landing-temp"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{temp.parent.name}-{temp.name.lstrip('.')}"
        shutil.move(temp, target)
        moved.append(target)
        log.warning("moved abandoned temp file %s to %s (never acknowledged)", temp, target)
    return moved


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_landing(landing_dir: Path) -> pa.Table:
    """Every landed row, for tests and tools (the pipeline reads with DuckDB instead)."""
    files = sorted(landing_dir.glob(f"{PARTITION_PREFIX}*/*.parquet"))
    if not files:
        return LANDING_SCHEMA.empty_table()
    return pa.concat_tables(pq.read_table(file, schema=LANDING_SCHEMA) for file in files)
