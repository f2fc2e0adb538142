"""Landing: immutable, Hive-partitioned Parquet files, one row per delivery (the layout the
docs/ingest.md, "The landing data", documents for users and their scripts).

Files are published by the journal's compaction (journal.py). Each appears complete or not at
all: written under a hidden temp name, fsynced, renamed, and its directory fsynced. Temp names
carry the writer's pid so a restart can tell an abandoned temp file (its writer is dead) from
one another worker is still writing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from osvi_core.fs import fsync_dir, process_alive, write_all

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

# Readers require only the documented columns (docs/ingest.md, "The landing data"); those beyond are
# optional (missing = null), so files of other producers and of earlier versions load. A column
# added to LANDING_SCHEMA later belongs here.
OPTIONAL_COLUMNS = ("body_base64",)
REQUIRED_COLUMNS = tuple(name for name in LANDING_SCHEMA.names if name not in OPTIONAL_COLUMNS)

PARTITION_PREFIX = "received_date="
_STATISTICS_COLUMNS = ["delivery_id", "received_at", "integration", "call_log_id"]
_DICTIONARY_COLUMNS = ["integration", "method", "path"]
_TEMP_RE = re.compile(r"^\.(?P<pid>\d+)-[0-9a-f]+\.parquet\.tmp$")


@dataclass(frozen=True, slots=True)
class LandingRow:
    delivery_id: str
    received_at: int  # microseconds since the epoch, UTC
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


def write_landing_bytes(landing_dir: Path, day: str, name: str, data: bytes | pa.Buffer
                        ) -> Path:
    """Write an encoded landing file as `received_date=<day>/<name>`.

    The file appears complete or not at all; an existing file of that name is replaced
    atomically (compaction repeated after a crash writes the same rows again).
    """
    directory = landing_dir / f"{PARTITION_PREFIX}{day}"
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        fsync_dir(directory.parent)  # the new directory entry itself must be durable
    temp = directory / f".{os.getpid()}-{uuid.uuid4().hex}.parquet.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(directory)
    return directory / name


def encode_parquet(records: Sequence[Sequence[object]]) -> pa.Buffer:
    """Records as one Parquet file in memory (Arrow's native sink: no Python-level writes)."""
    columns = list(zip(*records, strict=True)) if records else [()] * len(LANDING_SCHEMA)
    arrays = [pa.array(column, type=field.type) for column, field in zip(columns, LANDING_SCHEMA,
                                                                          strict=True)]
    return encode_table(pa.Table.from_arrays(arrays, schema=LANDING_SCHEMA))


def encode_table(table: pa.Table) -> pa.Buffer:
    """A table of landing rows as one Parquet file in memory, written as every landing file is
    (a rewrite by `osvi forget` keeps the columns a file of another producer has)."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="zstd",
        # Min/max of whole bodies would triple the file for no pruning benefit; keep them
        # where readers filter. Dictionaries only pay off on the repetitive columns.
        write_statistics=[name for name in _STATISTICS_COLUMNS if name in table.column_names],
        use_dictionary=[name for name in _DICTIONARY_COLUMNS if name in table.column_names],
    )
    return sink.getvalue()


def probe_writable(landing_dir: Path) -> None:
    """Raise OSError unless a file can be created and synced in the landing directory."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    probe = landing_dir / f".{os.getpid()}-{uuid.uuid4().hex}.parquet.tmp"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"ok")
            os.fsync(handle.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def quarantine_abandoned_temp_files(landing_dir: Path, quarantine_dir: Path) -> list[Path]:
    """Move temp files whose writer is gone out of the landing tree; they were never acked."""
    moved: list[Path] = []
    if not landing_dir.exists():
        return moved
    for temp in landing_dir.rglob(".*.parquet.tmp"):
        match = _TEMP_RE.match(temp.name)
        if match and process_alive(int(match["pid"])) and int(match["pid"]) != os.getpid():
            continue
        moved.append(quarantine_file(temp, quarantine_dir / "landing-temp",
                                     "abandoned temp file (never acknowledged)"))
    return moved


def quarantine_file(source: Path, target_dir: Path, reason: str) -> Path:
    """Move a landing file out of the way, named after its day folder, with its reason beside
    it (`<name>.reason.txt`) for whoever looks at the quarantine folder."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{source.parent.name}-{source.name.lstrip('.')}"
    shutil.move(source, target)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    log.warning("quarantined %s -> %s: %s", source, target, reason)
    return target
