"""`osvi import`: past OSVI bodies (JSON Lines, `.json` files) stored as landing deliveries.

Each body becomes the row the endpoint would have written for a POST to `/webhooks/<name>`:
the same body inspection (`parse_error` for a bad line, `call_log_id`), the same landing
columns, files published atomically. Idempotent: a delivery's id is derived from the
integration, the body's SHA-256 and how many identical bodies came before it in the same file
(so a body retried twice in an export stays two deliveries), and ids already in landing are
skipped. The receipt time comes from `--received-at-field` (else the file's modification
time); an unparseable line takes its preceding line's, so it lands among its neighbours.
Memory stays bounded whatever the size of the history or of earlier imports: bodies stream
in batches into a DuckDB staging file, where ids are given and checked (import_history).
Batches are inspected by a process per core and taken back in input order.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import itertools
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from osvi_core.body import inspect_body
from osvi_core.dotted import get_dotted
from osvi_core.erasure import TombstoneIndex
from osvi_core.landing import LANDING_SCHEMA, encode_table
from osvi_core.landing_store import LandingStore, PublishError, iter_landing_files

IMPORT_PREFIX = "import-"  # landing files written by `osvi import`
IMPORT_NAMESPACE = uuid.UUID("6f1c3a52-8f0e-4d5e-9a57-0b7f3c1d2e4a")
SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_ROWS_PER_FILE = 50_000
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


READ_HINT = 1 << 22  # bytes of lines read at a time (readlines' hint)


def read_segments(source: Source, progress: Callable[[int], None]
                  ) -> Iterator[tuple[int, list[bytes], bool]]:
    """The source's bodies in runs: (number of the first, raw items, are JSON Lines). JSON
    Lines come as read, end of line and blank lines included (an inspector strips and skips
    them: reading stays C-speed in this process); an array's items as re-encoded JSON."""
    with _open_binary(source) as (stream, position):
        if source.is_array_file:
            data = stream.read()
            progress(position())
            items = list(_array_items(data))
            if items:
                yield items[0][0], [item for _, item in items], False
            return
        number, done = 1, 0
        while lines := stream.readlines(READ_HINT):
            yield number, lines, True
            number += len(lines)
            now = position()
            progress(now - done)
            done = now


def where(label: str, is_array: bool, number: int) -> str:
    """`file:LINE` for JSON Lines (and a whole unparseable array file), `file: item N`."""
    return f"{label}: item {number}" if is_array and number > 0 else f"{label}:{max(number, 1)}"


def _array_items(data: bytes) -> Iterator[tuple[int, bytes]]:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        yield 0, data  # kept whole, with its parse error
        return
    if isinstance(parsed, list):
        for index, item in enumerate(parsed, start=1):
            yield index, orjson.dumps(item)
    else:
        yield 0, data


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


# `uuid.uuid5(IMPORT_NAMESPACE, f"{integration}\n{body_sha256}\n{occurrence}")` in SQL (a unit
# test pins that the two agree, so files imported by earlier versions are still recognised):
# SHA-1 of the namespace's bytes and the name, with the version (5) and variant bits set.
DELIVERY_ID_SQL = """
sha1($namespace || encode($integration || chr(10) || coalesce(body_sha256, 'None') || chr(10)
                          || occurrence::varchar))
"""
UUID5_FORMAT_SQL = """
substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-5' || substr(h, 14, 3) || '-'
|| substr('89ab', ((strpos('0123456789abcdef', substr(h, 17, 1)) - 1) & 3) + 1, 1)
|| substr(h, 18, 3) || '-' || substr(h, 21, 12)
"""


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


# What each body becomes before it has an id: one row per body read, in input order, kept in
# Parquet files of STAGED_BATCH rows in the scratch folder.
STAGED_SCHEMA = pa.schema([
    ("source_index", pa.int32()), ("line_index", pa.int64()), ("received_at", pa.int64()),
    ("day", pa.string()), ("headers", pa.string()), ("body", pa.string()),
    ("body_sha256", pa.string()), ("call_log_id", pa.string()), ("parse_error", pa.string()),
    ("body_base64", pa.string()),
])
STAGED_BATCH = 20_000
MAX_BUFFERED_ROWS = 100_000  # rows waiting for a landing file, over every day
SCRATCH_MEMORY = "512MB"  # DuckDB's limit for the ids; beyond it, it spills to the scratch folder
# Only what ids need goes to DuckDB: the bodies stay in the staged Parquet files.
IDS_DDL = "create table staged (source_index integer, line_index bigint, body_sha256 varchar)"
# The staged bodies that become new deliveries, with their ids: a body's occurrence is how many
# identical bodies came before it in the same file; an id already imported (earlier, or by a
# file before it in this import) is left out.
NEW_IDS = f"""
create table new_ids as
with numbered as (
    select line_index, body_sha256,
           row_number() over (partition by source_index, body_sha256 order by line_index) - 1
               as occurrence
    from staged
),
identified as (
    select line_index, {UUID5_FORMAT_SQL} as delivery_id
    from (select *, {DELIVERY_ID_SQL} as h from numbered)
)
select line_index, delivery_id from identified
where delivery_id not in (select delivery_id from imported)
qualify row_number() over (partition by delivery_id order by line_index) = 1
order by line_index
"""


def import_history(sources: list[Source], integration: str, store: LandingStore, *,
                   timezone: str, received_at_field: str | None = None, dry_run: bool = False,
                   progress: Callable[[int], None] = lambda done: None,
                   erased: TombstoneIndex | None = None,
                   scratch_dir: Path | None = None, workers: int | None = None
                   ) -> ImportReport:
    """Import `sources`. Memory stays bounded whatever the number of bodies or of deliveries
    imported before: bodies are staged in Parquet files under `scratch_dir` (default: the
    system's temp dir) and their ids given and checked against earlier imports in a DuckDB file
    there (spilling to disk beyond its memory limit); Python holds a few batches. `workers`:
    processes that inspect bodies (default: one per usable core)."""
    report = ImportReport()
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="osvi-import-", dir=scratch_dir) as scratch:
        folder = Path(scratch)
        con = duckdb.connect(str(folder / "ids.duckdb"),
                             config={"memory_limit": SCRATCH_MEMORY,
                                     "temp_directory": str(folder / "spill")})
        try:
            batches = _stage(con, folder, sources, report, received_at_field, timezone,
                             progress, workers or _usable_cores())
            _load_imported_ids(con, store)
            con.execute(NEW_IDS, {"namespace": IMPORT_NAMESPACE.bytes,
                                  "integration": integration})
            report.already_imported = report.bodies - int(
                con.execute("select count(*) from new_ids").fetchall()[0][0])
            with ThreadPoolExecutor(3) as threads:  # (pyarrow and fsync let go of the GIL)
                buffer = _LandingBuffer(store, report, dry_run, threads)
                for rows in _rows_in_order(con, batches, integration, threads):
                    if erased:
                        rows = _without_erased(rows, erased, report)
                    buffer.add(rows)
                buffer.close()
        finally:
            con.close()
    return report


@dataclass(frozen=True)
class _Batch:
    """About STAGED_BATCH lines or items in input order, for one inspector process."""

    number: int  # its staged file's number; its bodies' line_index is number << 32 | offset
    # Runs of one source each: (source index, number of the first, raw items, are JSON Lines)
    segments: list[tuple[int, int, list[bytes], bool]]
    sources: dict[int, tuple[str, bool, int]]  # source index -> label, is an array, file time
    # The receipt time an unparseable first body takes: None while unknown (its source began
    # in an earlier batch, still being inspected, and received_at_field is set).
    neighbour_time: int | None
    received_at_field: str | None
    timezone: str
    folder: Path


@dataclass
class _Inspected:
    """What an inspector made of a batch; `ids` None: its first bodies are unparseable and
    need the previous batch's last receipt time (nothing was written)."""

    ids: pa.Table | None = None  # source_index, line_index, body_sha256
    bodies: int = 0
    errors: list[str] = field(default_factory=list)
    unparseable: int = 0
    time_from_file: int = 0
    last_neighbour_time: int | None = None


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


def _stage(con: duckdb.DuckDBPyConnection, folder: Path, sources: list[Source],
           report: ImportReport, received_at_field: str | None, timezone: str,
           progress: Callable[[int], None], workers: int) -> list[Path]:
    """Every body read, inspected as the endpoint would (in `workers` processes once there is
    more than a batch: the inspection is most of an import): the batch files, in order."""
    con.execute(IDS_DDL)
    batches = _batches(sources, folder, received_at_field, timezone, progress)
    carry: int | None = None
    files: list[Path] = []
    for batch, inspected in _inspect_in_order(batches, workers):
        if batch.neighbour_time is not None:
            carry = batch.neighbour_time
        if inspected.ids is None:  # rare: an unparseable body first, after a cut mid-file
            inspected = _inspect_batch(replace(batch, neighbour_time=carry))
        assert inspected.ids is not None
        if inspected.last_neighbour_time is not None:  # (None: the batch held blank lines only)
            carry = inspected.last_neighbour_time
        report.bodies += inspected.bodies
        for message in inspected.errors:
            report.error(message)
        report.unparseable += inspected.unparseable
        report.time_from_file += inspected.time_from_file
        con.register("staged_batch", inspected.ids)
        con.execute("insert into staged select * from staged_batch")
        con.unregister("staged_batch")
        if inspected.bodies:
            files.append(_staged_path(folder, batch.number))
    return files


def _batches(sources: list[Source], folder: Path, received_at_field: str | None,
             timezone: str, progress: Callable[[int], None]) -> Iterator[_Batch]:
    """The sources read in runs, cut once STAGED_BATCH lines or items are gathered (across
    files: many small files make few batches)."""
    segments: list[tuple[int, int, list[bytes], bool]] = []
    described: dict[int, tuple[str, bool, int]] = {}
    started: set[int] = set()  # sources with bodies in an earlier batch
    gathered = count = 0
    for source_index, source in enumerate(sources):
        description = (source.label, source.is_array_file, source.modified_at())
        for first, items, are_lines in read_segments(source, progress):
            segments.append((source_index, first, items, are_lines))
            described[source_index] = description
            gathered += len(items)
            if gathered >= STAGED_BATCH:
                yield _cut(count, segments, described, started, received_at_field, timezone,
                           folder)
                segments, described, gathered, count = [], {}, 0, count + 1
    if segments:
        yield _cut(count, segments, described, started, received_at_field, timezone, folder)


def _cut(number: int, segments: list[tuple[int, int, list[bytes], bool]],
         described: dict[int, tuple[str, bool, int]], started: set[int],
         received_at_field: str | None, timezone: str, folder: Path) -> _Batch:
    first_source = segments[0][0]
    # Without received_at_field every body of a file takes its file's time; with it, a batch
    # that starts inside a file takes the previous batch's last time (known in order).
    neighbour_time = (described[first_source][2]
                      if received_at_field is None or first_source not in started else None)
    started.update(described)
    return _Batch(number, segments, described, neighbour_time, received_at_field, timezone,
                  folder)


def _bodies(batch: _Batch) -> Iterator[tuple[int, int, bytes]]:
    """(source index, number, raw body) of a batch: lines stripped of their end, blank ones
    skipped (still counted in line numbers)."""
    for source_index, first, items, are_lines in batch.segments:
        if not are_lines:
            yield from ((source_index, number, item)
                        for number, item in enumerate(items, start=first))
            continue
        for number, line in enumerate(items, start=first):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield source_index, number, raw


def _inspect_in_order(batches: Iterator[_Batch],
                      workers: int) -> Iterator[tuple[_Batch, _Inspected]]:
    """Each batch with its inspection, in input order; a pool of `workers` processes only when
    there is a second batch, at most two batches per process in flight (bounded memory)."""
    first_two = list(itertools.islice(batches, 2))
    if len(first_two) < 2 or workers < 2:
        for batch in itertools.chain(first_two, batches):
            yield batch, _inspect_batch(batch)
        return
    # forkserver: this process holds a DuckDB connection and its threads, which fork must not copy
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) \
            as pool:
        waiting: deque[tuple[_Batch, Future[_Inspected]]] = deque()
        for batch in itertools.chain(first_two, batches):
            waiting.append((batch, pool.submit(_inspect_batch, batch)))
            if len(waiting) >= 2 * workers:
                done, future = waiting.popleft()
                yield done, future.result()
        while waiting:
            done, future = waiting.popleft()
            yield done, future.result()


def _inspect_batch(batch: _Batch) -> _Inspected:
    """In an inspector process: each body as the endpoint would store it, written to the
    batch's staged file; its ids' columns returned."""
    inspected = _Inspected()
    columns: list[list[object]] = [[] for _ in STAGED_SCHEMA]
    neighbour_time = batch.neighbour_time
    current = batch.segments[0][0]
    first_line_index = batch.number << 32
    for offset, (source_index, number, raw) in enumerate(_bodies(batch)):
        label, is_array, file_time = batch.sources[source_index]
        if source_index != current:  # a new file: its unparseable bodies take its own time
            current, neighbour_time = source_index, file_time
        place = where(label, is_array, number)
        body = inspect_body(raw, "POST")
        if body.parse_error is not None:  # no field to read: beside its neighbour
            if neighbour_time is None:
                return _Inspected()
            inspected.unparseable += 1
            if len(inspected.errors) < MAX_REPORTED_ERRORS:
                inspected.errors.append(f"{place}: {body.parse_error}")
            moment = neighbour_time
        elif batch.received_at_field is None:
            moment = file_time
        else:
            found = received_at_from(orjson.loads(raw), batch.received_at_field, batch.timezone)
            inspected.time_from_file += found is None
            moment = neighbour_time = found or file_time
        for column, value in zip(columns, (
                source_index, first_line_index + offset, moment, utc_day(moment),
                _headers(place), body.text, body.sha256, body.call_log_id, body.parse_error,
                body.base64), strict=True):
            column.append(value)
    table = pa.Table.from_arrays([pa.array(column, type=field.type) for column, field
                                  in zip(columns, STAGED_SCHEMA, strict=True)],
                                 schema=STAGED_SCHEMA)
    pq.write_table(table, _staged_path(batch.folder, batch.number), compression="lz4")
    inspected.ids = table.select(["source_index", "line_index", "body_sha256"])
    inspected.bodies = table.num_rows
    inspected.last_neighbour_time = neighbour_time
    return inspected


def _staged_path(folder: Path, number: int) -> Path:
    return folder / f"staged-{number:06d}.parquet"


def _rows_in_order(con: duckdb.DuckDBPyConnection, batches: list[Path], integration: str,
                   threads: ThreadPoolExecutor) -> Iterator[pa.Table]:
    """Each staged batch's landing rows in order, the next batch's read (in a thread, on its
    own cursor) while this one's are filed."""
    ahead: deque[Future[pa.Table]] = deque()
    for batch in batches:
        ahead.append(threads.submit(_landing_rows, con, batch, integration))
        if len(ahead) > 1:
            yield ahead.popleft().result()
    while ahead:
        yield ahead.popleft().result()


def _landing_rows(con: duckdb.DuckDBPyConnection, batch: Path, integration: str) -> pa.Table:
    """The batch's bodies that become new deliveries, as landing rows (with `day`)."""
    staged = pq.read_table(batch)
    first = staged.column("line_index")[0].as_py()
    with con.cursor() as cursor:
        kept = cursor.sql("select line_index, delivery_id from new_ids where line_index "
                          "between $first and $last order by line_index",
                          params={"first": first, "last": first + staged.num_rows - 1}
                          ).to_arrow_table()
    rows = staged.take(pc.subtract(kept.column("line_index"), first))
    count = rows.num_rows
    columns = {
        "delivery_id": kept.column("delivery_id"),
        "received_at": rows.column("received_at").cast(pa.timestamp("us", tz="UTC")),
        "integration": pa.array([integration] * count, pa.string()),
        "method": pa.array(["POST"] * count, pa.string()),
        "path": pa.array([f"/webhooks/{integration}"] * count, pa.string()),
        "query": pa.nulls(count, pa.string()),
    }
    table = pa.table({name: columns[name] if name in columns else rows.column(name)
                      for name in LANDING_SCHEMA.names}).cast(LANDING_SCHEMA)
    return table.append_column("day", rows.column("day"))


class _LandingBuffer:
    """Landing rows waiting for a file, per UTC day, at most MAX_BUFFERED_ROWS in all: a day is
    written once it has MAX_ROWS_PER_FILE rows (or is the largest when the buffer is full),
    each file named after its rows' ids, so the same rows make the same file."""

    def __init__(self, store: LandingStore, report: ImportReport, dry_run: bool,
                 threads: ThreadPoolExecutor) -> None:
        self.store, self.report, self.dry_run = store, report, dry_run
        self.by_day: dict[str, list[pa.Table]] = {}
        self.buffered = 0
        self.threads = threads  # files are encoded and published in threads, two at a time
        self.writing: deque[Future[None]] = deque()

    def add(self, rows: pa.Table) -> None:
        days = rows.column("day")
        for day in pc.unique(days).to_pylist():
            of_day = rows.filter(pc.equal(days, day)).drop_columns(["day"])
            self.report.stored += of_day.num_rows
            self.report.days[day] += of_day.num_rows
            self.by_day.setdefault(day, []).append(of_day)
            self.buffered += of_day.num_rows
            while sum(part.num_rows for part in self.by_day.get(day, [])) >= MAX_ROWS_PER_FILE:
                self.flush(day, MAX_ROWS_PER_FILE)
        while self.buffered > MAX_BUFFERED_ROWS:
            self.flush(max(self.by_day, key=lambda key: sum(t.num_rows for t in self.by_day[key])))

    def flush(self, day: str, limit: int | None = None) -> None:
        waiting = pa.concat_tables(self.by_day.pop(day))
        rows = waiting if limit is None else waiting.slice(0, limit)
        if limit is not None and waiting.num_rows > limit:
            self.by_day[day] = [waiting.slice(limit)]
        self.buffered -= rows.num_rows
        if self.dry_run or not rows.num_rows:
            return
        self.writing.append(self.threads.submit(self._write, day, rows))
        while len(self.writing) > 2:
            self.writing.popleft().result()  # (raises the thread's error here)

    def _write(self, day: str, rows: pa.Table) -> None:
        ids = rows.column("delivery_id").to_pylist()
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        try:
            self.store.publish(day, f"{IMPORT_PREFIX}{digest[:24]}.parquet",
                               encode_table(rows).to_pybytes())
        except PublishError as exc:
            raise OSError(f"{self.store.location}: {exc}") from None

    def close(self) -> None:
        for day in list(self.by_day):
            self.flush(day)
        while self.writing:
            self.writing.popleft().result()


def _load_imported_ids(con: duckdb.DuckDBPyConnection, store: LandingStore) -> None:
    """`imported`: the delivery ids of every earlier import (only the id column of the import
    files is read, one file at a time)."""
    con.execute("create table imported (delivery_id varchar)")
    for file in iter_landing_files(store):
        if file.name.startswith(IMPORT_PREFIX):
            with store.open(file.path) as handle:
                con.register("file_ids", pq.read_table(handle, columns=["delivery_id"]))
            con.execute("insert into imported select delivery_id from file_ids")
            con.unregister("file_ids")


def _without_erased(rows: pa.Table, erased: TombstoneIndex, report: ImportReport) -> pa.Table:
    """The rows no tombstone of `osvi forget` covers (a person erased is not imported again)."""
    keep = [not erased.covers(int(moment.timestamp() * 1_000_000),
                              f"{orjson.loads(headers)['x-osvi-import-source']} {body or ''}",
                              call_log_id)
            for moment, headers, body, call_log_id in zip(
                rows.column("received_at").to_pylist(), rows.column("headers").to_pylist(),
                rows.column("body").to_pylist(), rows.column("call_log_id").to_pylist(),
                strict=True)]
    report.erased += keep.count(False)
    return rows.filter(pa.array(keep, pa.bool_()))


def _headers(where: str) -> str:
    """Where the body came from, in the headers' JSON (there were no request headers; a file
    name holds no credential, so there is nothing for redact_headers to take out)."""
    return orjson.dumps({"x-osvi-import-source": where}).decode()
