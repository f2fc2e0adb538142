"""`osvi import`: past OSVI bodies (JSON Lines, `.json` files) stored as landing deliveries.

Each body becomes the row the endpoint would have written for a POST to `/webhooks/<name>`:
the same body inspection (`parse_error` for a bad line, `call_log_id`), the same landing
columns, files published atomically. Idempotent: a delivery's id is derived from the
integration, the body's SHA-256 and how many identical bodies came before it in the same file
(so a body retried twice in an export stays two deliveries), and ids already in landing are
skipped. The receipt time comes from `--received-at-field` (else the file's modification
time); an unparseable line takes its preceding line's, so it lands among its neighbours.
Memory stays bounded: files stream line by line and at most `MAX_BUFFERED_ROWS` rows
wait for a landing file.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

import orjson
import pyarrow.parquet as pq

from osvi_core.body import inspect_body
from osvi_core.dotted import get_dotted
from osvi_core.erasure import TombstoneIndex
from osvi_core.landing import encode_parquet
from osvi_core.landing_store import LandingStore, PublishError, iter_landing_files

IMPORT_PREFIX = "import-"  # landing files written by `osvi import`
IMPORT_NAMESPACE = uuid.UUID("6f1c3a52-8f0e-4d5e-9a57-0b7f3c1d2e4a")
SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_ROWS_PER_FILE = 50_000
MAX_BUFFERED_ROWS = 100_000  # ~200 MB of typical bodies
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class Source:
    """One input: a file (gzip by extension) or standard input."""

    label: str  # as the user named it, for messages
    path: Path | None  # None for stdin

    @property
    def is_array_file(self) -> bool:
        return self.path is not None and self.path.name.removesuffix(".gz").endswith(".json")

    def size(self) -> int | None:
        return self.path.stat().st_size if self.path is not None else None

    def modified_at(self) -> int:
        """Microseconds since the epoch: the file's modification time (now for stdin)."""
        if self.path is None:
            return time.time_ns() // 1000
        return self.path.stat().st_mtime_ns // 1000


@dataclass
class ImportReport:
    bodies: int = 0
    stored: int = 0
    already_imported: int = 0
    erased: int = 0  # deliveries of subjects `osvi forget` erased: never stored again
    unparseable: int = 0
    time_from_file: int = 0  # the received-at field was missing or unreadable
    days: Counter[str] = field(default_factory=Counter)  # UTC landing day -> new deliveries
    errors: list[str] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS

    def error(self, message: str) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(message)


class HistoryImportError(Exception):
    """The import cannot start (a path that does not exist, nothing to read)."""


def find_sources(paths: Iterable[str]) -> list[Source]:
    """Files named, files under named directories (sorted), `-` for standard input."""
    sources: list[Source] = []
    for name in paths:
        if name == "-":
            sources.append(Source("<stdin>", None))
            continue
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.name.removesuffix(".gz").endswith(SUFFIXES))
            sources.extend(Source(str(p), p) for p in found)
        elif path.is_file():
            sources.append(Source(name, path))
        else:
            raise HistoryImportError(f"{name}: no such file or directory")
    if not sources:
        raise HistoryImportError("no .jsonl, .ndjson or .json files to import")
    return sources


def read_bodies(source: Source, progress: Callable[[int], None]) -> Iterator[tuple[str, bytes]]:
    """(where, raw body) pairs: `file:LINE` for JSON Lines, `file: item N` for an array."""
    with _open_binary(source) as (stream, position):
        if source.is_array_file:
            data = stream.read()
            progress(position())
            yield from _array_items(source.label, data)
            return
        done = 0
        for number, line in enumerate(stream, start=1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield f"{source.label}:{number}", raw
            if number % 1024 == 0:
                now = position()
                progress(now - done)
                done = now
        progress(position() - done)


def _array_items(label: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        yield f"{label}:1", data  # kept whole, with its parse error
        return
    if isinstance(parsed, list):
        for index, item in enumerate(parsed, start=1):
            yield f"{label}: item {index}", orjson.dumps(item)
    else:
        yield f"{label}:1", data


@contextlib.contextmanager
def _open_binary(source: Source) -> Iterator[tuple[IO[bytes], Callable[[], int]]]:
    """The source's bytes (gunzipped by extension) and its position in the file as stored,
    for progress in compressed bytes."""
    if source.path is None:
        yield sys.stdin.buffer, lambda: 0
        return
    with open(source.path, "rb") as raw:
        if source.path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield cast(IO[bytes], unzipped), raw.tell
        else:
            yield raw, raw.tell


def delivery_id(integration: str, body_sha256: str | None, occurrence: int) -> str:
    """Deterministic: the same body at the same occurrence in a file is the same delivery.

    `uuid.uuid5(IMPORT_NAMESPACE, name)`, computed without building UUID objects (a third of
    the import's time went there); a unit test pins that the two agree."""
    digest = bytearray(hashlib.sha1(
        _NAMESPACE_BYTES + f"{integration}\n{body_sha256}\n{occurrence}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_NAMESPACE_BYTES = IMPORT_NAMESPACE.bytes


@lru_cache(maxsize=4096)
def _utc_day_of(day_number: int) -> str:
    return datetime.fromtimestamp(day_number * 86_400, UTC).strftime("%Y-%m-%d")


def utc_day(moment_us: int) -> str:
    """The UTC day (YYYY-MM-DD) of a time in µs since the epoch; one strftime per day."""
    return _utc_day_of(moment_us // 86_400_000_000)


def received_at_from(body: Any, dotted: str | None, timezone: str) -> int | None:
    """The body's receipt time in µs (ISO 8601; a time without offset is in `timezone`)."""
    if dotted is None or not isinstance(body, dict):
        return None
    value = get_dotted(body, dotted)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return int(moment.timestamp() * 1_000_000)


def imported_ids(store: LandingStore) -> set[str]:
    """Delivery ids of every earlier import (only the id column of the import files is read)."""
    ids: set[str] = set()
    for file in iter_landing_files(store):
        if file.name.startswith(IMPORT_PREFIX):
            with store.open(file.path) as handle:
                ids.update(pq.read_table(handle, columns=["delivery_id"])
                           .column("delivery_id").to_pylist())
    return ids


class _LandingBuffer:
    """Rows waiting for a landing file, per UTC day, bounded in total."""

    def __init__(self, store: LandingStore, dry_run: bool) -> None:
        self.store, self.dry_run = store, dry_run
        self.by_day: dict[str, list[list[object]]] = {}
        self.buffered = 0

    def add(self, day: str, record: list[object]) -> None:
        rows = self.by_day.setdefault(day, [])
        rows.append(record)
        self.buffered += 1
        if len(rows) >= MAX_ROWS_PER_FILE:
            self.flush(day)
        elif self.buffered >= MAX_BUFFERED_ROWS:
            self.flush(max(self.by_day, key=lambda key: len(self.by_day[key])))

    def flush(self, day: str) -> None:
        rows = self.by_day.pop(day)
        self.buffered -= len(rows)
        if self.dry_run or not rows:
            return
        # Named after its rows, so the same rows always make the same file.
        digest = hashlib.sha256("\n".join(str(row[0]) for row in rows).encode()).hexdigest()
        name = f"{IMPORT_PREFIX}{digest[:24]}.parquet"
        try:
            self.store.publish(day, name, encode_parquet(rows).to_pybytes())
        except PublishError as exc:
            raise OSError(f"{self.store.location}: {exc}") from None

    def close(self) -> None:
        for day in list(self.by_day):
            self.flush(day)


def _headers(where: str) -> str:
    """Where the body came from, in the headers' JSON (there were no request headers; a file
    name holds no credential, so there is nothing for redact_headers to take out)."""
    return orjson.dumps({"x-osvi-import-source": where}).decode()


def import_history(sources: list[Source], integration: str, store: LandingStore, *,
                   timezone: str, received_at_field: str | None = None, dry_run: bool = False,
                   progress: Callable[[int], None] = lambda done: None,
                   erased: TombstoneIndex | None = None) -> ImportReport:
    report = ImportReport()
    path = f"/webhooks/{integration}"
    seen = imported_ids(store)
    buffer = _LandingBuffer(store, dry_run)
    for source in sources:
        occurrences: Counter[str | None] = Counter()
        file_time = neighbour_time = source.modified_at()
        for where, raw in read_bodies(source, progress):
            report.bodies += 1
            body = inspect_body(raw, "POST")
            if body.parse_error is not None:
                report.unparseable += 1
                report.error(f"{where}: {body.parse_error}")
            identity = delivery_id(integration, body.sha256, occurrences[body.sha256])
            occurrences[body.sha256] += 1
            if identity in seen:
                report.already_imported += 1
                continue
            seen.add(identity)
            if body.parse_error is not None:  # no field to read: beside its neighbour
                moment = neighbour_time
            elif received_at_field is None:
                moment = file_time
            else:
                found = received_at_from(orjson.loads(raw), received_at_field, timezone)
                report.time_from_file += found is None
                moment = neighbour_time = found or file_time
            if erased and erased.covers(moment, f"{where} {body.text or ''}", body.call_log_id):
                report.erased += 1
                continue
            day = utc_day(moment)
            # In LANDING_SCHEMA's order (a LandingRow per body, read back field by field,
            # cost a tenth of the import).
            buffer.add(day, [identity, moment, integration, "POST", path, None,
                             _headers(where), body.text, body.sha256, body.call_log_id,
                             body.parse_error, body.base64])
            report.stored += 1
            report.days[day] += 1
    buffer.close()
    return report

