"""The durable path of a delivery: an fsynced journal, compacted into landing Parquet.

A group commit appends its rows to the process's open journal segment as CRC-framed records
and fdatasyncs once; only then are the requests answered 200. About once a second (or every
`segment_rows` rows) the segment is closed and compacted into one landing Parquet file per UTC
day, published through the landing store (landing_store.py: a local folder, atomically, or a
bucket, with a conditional create); only then is the segment deleted. While the store is
unreachable, closed segments wait in the journal, oldest first: the backlog.

Why not one Parquet file per group commit: a Parquet file costs ~0.7 ms of CPU to encode
whatever its size, which on 2 cores halved the throughput and left ~150 files a second in
landing. The journal costs one write and one fdatasync per group (docs/benchmarks.md).

Crash safety:
- a segment is named `<pid>-<run>-<seq>.journal`; `run` is random per process start, so
  names (and the landing files named after them) never repeat, even when a container gives
  the restarted server the same pid;
- a torn tail (a crash in the middle of an append) was never acknowledged: decoding stops at
  the first record whose length or CRC does not check out;
- after a failed append the segment is closed for good, so nothing acknowledged later can sit
  behind a torn record;
- compaction names its output after the replica and the segment, so publishing the same segment
  again after a crash replaces the file with the same rows (local) or finds it already there
  (object storage) instead of duplicating them;
- on start, segments left by processes that are gone are compacted before serving.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import secrets
import struct
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson

from osvi_core.fs import fsync_dir, process_alive, write_all
from osvi_core.landing import LANDING_SCHEMA, LandingRow, encode_parquet
from osvi_core.landing_store import LandingStore, LocalLandingStore, PublishError

log = logging.getLogger("osvi.journal")

LOCAL_JOURNAL_DIRNAME = "_journal"  # inside a local landing folder
_FRAME = struct.Struct("<II")  # payload length, CRC32 of the payload
_SEGMENT_RE = re.compile(r"^(?P<pid>\d+)-(?P<run>[0-9a-f]+)-(?P<seq>\d+)\.journal$")
_FIELDS = LANDING_SCHEMA.names


def encode_records(rows: Sequence[LandingRow]) -> bytes:
    frames = []
    for row in rows:
        payload = orjson.dumps([getattr(row, name) for name in _FIELDS])
        frames.append(_FRAME.pack(len(payload), zlib.crc32(payload)))
        frames.append(payload)
    return b"".join(frames)


def decode_records(data: bytes) -> tuple[list[list[object]], int]:
    """Records up to the first torn or corrupt one; also the count of bytes not decoded."""
    payloads: list[bytes] = []
    offset = 0
    view = memoryview(data)
    while offset + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, offset)
        start, end = offset + _FRAME.size, offset + _FRAME.size + length
        if end > len(data) or zlib.crc32(view[start:end]) != crc:
            break
        payloads.append(data[start:end])
        offset = end
    records: list[list[object]] = orjson.loads(b"[" + b",".join(payloads) + b"]")
    return records, len(data) - offset


def abandoned_segments(journal_dir: Path) -> Iterator[Path]:
    if not journal_dir.is_dir():
        return
    for segment in sorted(journal_dir.glob("*.journal")):
        match = _SEGMENT_RE.match(segment.name)
        pid = int(match["pid"]) if match else -1
        if pid == os.getpid() or not process_alive(pid):  # our pid here: a previous run's
            yield segment


def compact_segment(segment: Path, store: LandingStore, replica: str) -> int:
    """Publish a closed segment's rows as landing Parquet (one file per UTC day), then
    delete it. Safe to repeat: the output is named after the replica and the segment."""
    store = _reused(store)
    records, undecoded = decode_records(segment.read_bytes())
    if undecoded:
        log.warning("%s: %d bytes after the last complete record were never acknowledged",
                    segment.name, undecoded)
    received_at = _FIELDS.index("received_at")
    by_day: dict[str, list[list[object]]] = defaultdict(list)
    for record in records:
        moment = datetime.fromtimestamp(int(record[received_at]) / 1e6, UTC)
        by_day[moment.strftime("%Y-%m-%d")].append(record)
    name = f"{replica}-{segment.stem}.parquet" if replica else f"{segment.stem}.parquet"
    for day, day_records in sorted(by_day.items()):
        if not store.publish(day, name, encode_parquet(day_records).to_pybytes()):
            log.info("%s of %s was already published (a repeated publication)", name, day)
    segment.unlink(missing_ok=True)  # missing: another worker recovered it meanwhile
    fsync_dir(segment.parent)
    return len(records)


_STORES: dict[tuple[str, str | None], LandingStore] = {}


def _reused(store: LandingStore) -> LandingStore:
    """One store per location in a process, so the compactor keeps its HTTP connections (and
    per endpoint: a process that points AWS_ENDPOINT_URL elsewhere, a test, gets a new one)."""
    return _STORES.setdefault((store.location, os.environ.get("AWS_ENDPOINT_URL")), store)


def first_receipt(segment: Path) -> float | None:
    """When the segment's first delivery was received (epoch seconds), from its first record."""
    try:
        with open(segment, "rb") as handle:
            header = handle.read(_FRAME.size)
            if len(header) < _FRAME.size:
                return None
            length, _ = _FRAME.unpack(header)
            records, _ = decode_records(header + handle.read(length))
    except (OSError, orjson.JSONDecodeError):
        return None
    if not records:
        return None
    return int(records[0][_FIELDS.index("received_at")]) / 1e6


def erase_from_segment(segment: Path, owned: Callable[[dict[str, object]], bool]) -> int:
    """Rewrite an abandoned segment (its writer is gone: abandoned_segments) without the records
    `owned` selects (`osvi forget`); return how many were removed. The new segment replaces the
    old one by a rename, so a crash leaves one or the other whole. A torn tail is dropped with
    it: it was never acknowledged."""
    try:
        records, _ = decode_records(segment.read_bytes())
    except FileNotFoundError:  # compacted meanwhile
        return 0
    kept = [record for record in records if not owned(dict(zip(_FIELDS, record, strict=False)))]
    if len(kept) == len(records):
        return 0
    temp = segment.with_name(f".{segment.name}.{os.getpid()}.erasing")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, encode_records([LandingRow(*cast(list[Any], record)) for record in kept]))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, segment)
    fsync_dir(segment.parent)
    return len(records) - len(kept)


@dataclass(frozen=True)
class Backlog:
    """Acknowledged deliveries not yet in landing: every journal segment of the replica (all
    workers' together), the open ones included."""

    bytes: int
    oldest_received: float | None  # epoch seconds


def journal_backlog(journal_dir: Path) -> Backlog:
    segments = []
    for segment in journal_dir.glob("*.journal"):
        with contextlib.suppress(FileNotFoundError):  # published meanwhile
            stat = segment.stat()
            segments.append((stat.st_mtime, stat.st_size, segment))
    if not segments:
        return Backlog(0, None)
    oldest = min(segments)[2]  # the least recently written: closed first, and oldest
    return Backlog(sum(size for _, size, _ in segments), first_receipt(oldest))


class _Segment:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self.rows = 0
        self.size = 0
        self.opened = time.monotonic()

    def append(self, data: bytes, rows: int) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view):]
            os.fdatasync(self.fd)
        except OSError:
            # Those rows are answered 503: cut them off so they are not published either.
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)
        self.rows += rows

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


Compact = Callable[[Path, LandingStore, str], int]


class DurableLanding:
    """Journal appends (the ack path) and their publication to landing."""

    def __init__(self, journal_dir: Path, store: LandingStore, *, replica: str = "",
                 segment_rows: int = 20_000, segment_seconds: float = 1.0) -> None:
        self.journal_dir = journal_dir
        self.store = store
        self.replica = replica
        self.segment_rows = segment_rows
        self.segment_seconds = segment_seconds
        self._run = secrets.token_hex(4)
        self._sequence = 0
        self._lock = threading.Lock()
        self._open: _Segment | None = None
        self._closed: list[Path] = []
        self._compact_lock = threading.Lock()
        # Local landing shares the journal's disk: while it fails, deliveries answer 503.
        # A failing object store does not: the journal holds them (the backlog, bounded).
        self.compaction_error: str | None = None
        self.publish_error: PublishError | None = None

    @classmethod
    def for_folder(cls, landing_dir: Path, **options: Any) -> DurableLanding:
        """Local landing with its journal inside (`<landing>/_journal`), as `osvi serve` sets it
        up without OSVI_LANDING_URL."""
        store = LocalLandingStore(landing_dir, landing_dir.parent / "quarantine")
        return cls(landing_dir / LOCAL_JOURNAL_DIRNAME, store, **options)

    # -- the ack path (the committer's writer thread) --------------------------------------

    def append(self, rows: Sequence[LandingRow]) -> None:
        """Durably journal rows; raise OSError if they are not safely on disk."""
        data = encode_records(rows)
        with self._lock:
            segment = self._open or self._open_segment()
            try:
                segment.append(data, len(rows))
            except OSError:
                self._close_segment()  # never append behind a possibly torn record
                raise
            if segment.rows >= self.segment_rows:
                self._close_segment()

    def _open_segment(self) -> _Segment:
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        name = f"{os.getpid()}-{self._run}-{self._sequence:08d}.journal"
        segment = _Segment(self.journal_dir / name)
        fsync_dir(self.journal_dir)  # the segment's directory entry must survive a crash
        self._open = segment
        return segment

    def _close_segment(self) -> None:
        if self._open is not None:
            self._open.close()
            if self._open.size:
                self._closed.append(self._open.path)
            else:
                with contextlib.suppress(OSError):
                    self._open.path.unlink()
            self._open = None

    def rotate_if_due(self, force: bool = False) -> None:
        with self._lock:
            segment = self._open
            if segment is not None and (
                force or time.monotonic() - segment.opened >= self.segment_seconds
            ):
                self._close_segment()

    # -- publication (a background thread) -------------------------------------------------

    def compact_closed(self, compact: Compact = compact_segment) -> int:
        """Publish every closed segment, oldest first; return how many rows reached landing.

        `compact` may run the work elsewhere (the server uses a separate process, so the
        decoding never competes with request handling for the GIL). On a failure the segment
        and the ones after it stay queued, and PublishError is raised.
        """
        with self._compact_lock:
            with self._lock:
                pending, self._closed = self._closed, []
            published = 0
            for index, segment in enumerate(pending):
                try:
                    published += compact(segment, self.store, self.replica)
                except (OSError, PublishError) as exc:
                    with self._lock:
                        self._closed[:0] = pending[index:]  # retried on the next round
                    error = exc if isinstance(exc, PublishError) else PublishError(
                        "disk", f"{segment.name}: {exc.strerror or exc}")
                    self.publish_error = error
                    if not self.store.remote:
                        self.compaction_error = error.message
                    raise error from None
            self.compaction_error = self.publish_error = None
            return published

    def backlog(self) -> int:
        with self._lock:
            return len(self._closed) + (1 if self._open is not None else 0)

    def drain(self) -> int:
        """Close the open segment and publish everything (graceful shutdown, tests)."""
        self.rotate_if_due(force=True)
        return self.compact_closed()

    def adopt_abandoned(self) -> int:
        """Queue, ahead of everything, the segments of processes that are gone (a crashed or
        killed run's acknowledged deliveries); return how many."""
        abandoned = list(abandoned_segments(self.journal_dir))
        with self._lock:
            self._closed[:0] = [segment for segment in abandoned if segment not in self._closed]
        return len(abandoned)

    def recover(self) -> int:
        """Publish segments left by processes that are gone (run once, before serving)."""
        if self.adopt_abandoned():
            recovered = self.compact_closed()
            log.warning("recovered %d acknowledged deliveries from the journal", recovered)
            return recovered
        return 0


class CompactorProcess:
    """Runs `compact_segment` in a child process, started on first use.

    Decoding a second's worth of journal holds the GIL for tens of milliseconds; in a thread
    that stalled request handling (p99 doubled, throughput -18%: docs/benchmarks.md).
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def compact(self, segment: Path, store: LandingStore, replica: str) -> int:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1,
                                             mp_context=multiprocessing.get_context("spawn"))
        try:
            return self._pool.submit(compact_segment, segment, store, replica).result()
        except BrokenProcessPool:
            self._pool = None  # a new one next time
            raise OSError("the compactor process died") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
