"""Erasing subjects (`osvi forget`): finding their deliveries in landing and in the working
file, rewriting the landing files that hold them, deleting them from the warehouse, and the
tombstones every later load honours (osvi_core.erasure, docs/erasure.md).

A delivery belongs to a subject when its text (path, query, headers, body) holds the number in
any of its forms or the call id, or when it is a delivery of a call one of those deliveries
belongs to: a call is erased whole, its retries and status updates with it.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from osvi_core.erasure import NUMBER_IN_TEXT, Subject, Tombstone, match_value
from osvi_core.landing import PARTITION_PREFIX, encode_table
from osvi_core.landing_store import LandingFile, LandingStore, iter_landing_files
from osvi_pipeline.warehouse.change_log import record_delivery_changes, transaction
from osvi_pipeline.warehouse.landing_files import register_landing
from osvi_pipeline.warehouse.queries import scalar, table_exists

# Every column a person's data can be in; body_base64 (bytes that were not UTF-8) is searched
# decoded as Latin-1 would be too costly and is matched through its call id instead.
_TEXT = "concat_ws(' ', path, query, headers, body)"
_REWRITTEN_SUFFIX = re.compile(r"(-e[0-9a-f]{10})+$")


@dataclass
class Found:
    """What belongs to each subject (by its position in the command line)."""

    deliveries: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    calls: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, subject: int, delivery_id: str, call_log_id: str | None) -> None:
        self.deliveries[subject].add(delivery_id)
        if call_log_id is not None:
            self.calls[subject].add(call_log_id)

    def all_deliveries(self) -> set[str]:
        return set().union(*self.deliveries.values()) if self.deliveries else set()

    def all_calls(self) -> set[str]:
        return set().union(*self.calls.values()) if self.calls else set()

    def merge(self, other: Found) -> None:
        for subject, ids in other.deliveries.items():
            self.deliveries[subject] |= ids
        for subject, ids in other.calls.items():
            self.calls[subject] |= ids


def _match_sql(subjects: Sequence[Subject]) -> tuple[str, dict[str, object]]:
    """A list column of the positions of the subjects a row holds, and its parameters (the
    patterns are parameters: bound once, compiled once)."""
    params: dict[str, object] = {}
    tests = []
    for index, subject in enumerate(subjects):
        params[f"p{index}"] = subject.text_pattern()
        test = f"regexp_matches({_TEXT}, $p{index})"
        if subject.kind == "call_id":
            params[f"c{index}"] = subject.canonical
            test = f"(call_log_id = $c{index} or {test})"
        tests.append(f"case when {test} then {index} end")
    return f"list_filter([{', '.join(tests)}], lambda x: x is not null)", params


def _owned_rows(con: duckdb.DuckDBPyConnection, source: str, subjects: Sequence[Subject],
                params: dict[str, object], extra_columns: str = "") -> list[tuple[object, ...]]:
    """(delivery_id, call_log_id, subject position, *extra) of every row of `source` that a
    subject owns: by its text (one scan of the text), or as another delivery of a call found
    by its text (a scan of the ids only)."""
    matched, match_params = _match_sql(subjects)
    hits = con.execute(f"""
        select delivery_id, call_log_id, unnest({matched}) as subject{extra_columns}
        from {source}
    """, {**params, **match_params}).fetchall()
    calls = sorted({(str(row[1]), int(str(row[2]))) for row in hits if row[1] is not None})
    if not calls:
        return hits
    same_calls = con.execute(f"""
        select delivery_id, call_log_id, found.subject{extra_columns}
        from {source} join (select unnest($calls::varchar[]) as call_log_id,
                                   unnest($subjects::integer[]) as subject) as found
             using (call_log_id)
    """, {**params, "calls": [call for call, _ in calls],
          "subjects": [subject for _, subject in calls]}).fetchall()
    return list({tuple(row) for row in [*hits, *same_calls]})


@dataclass(frozen=True)
class LandingHits:
    found: Found
    files: dict[str, set[str]]  # landing path -> delivery ids to remove
    listed: dict[str, LandingFile]


def find_in_landing(con: duckdb.DuckDBPyConnection, store: LandingStore,
                    subjects: Sequence[Subject]) -> LandingHits:
    """Every landing row the subjects own (one scan of every file's text, one of the call ids)."""
    listed = {file.path: file for file in iter_landing_files(store)}
    found = Found()
    files: dict[str, set[str]] = defaultdict(set)
    if not listed or not subjects:
        return LandingHits(found, files, listed)
    register_landing(con, store)
    source = ("read_parquet($files, filename = true, union_by_name = true)")
    for delivery_id, call_log_id, subject, filename in _owned_rows(
            con, source, subjects, {"files": list(listed)}, ", filename"):
        found.add(int(str(subject)), str(delivery_id),
                  None if call_log_id is None else str(call_log_id))
        files[str(filename)].add(str(delivery_id))
    return LandingHits(found, dict(files), listed)


@dataclass(frozen=True)
class Rewrite:
    old: str
    new: str | None  # None: the file held only erased rows and is gone
    removed: int
    bytes_written: int


def rewritten_name(file: LandingFile, removed: Iterable[str]) -> str:
    """The rewritten file's name: the old one's, marked with what was removed, the same for a
    repeated attempt (so an interrupted rewrite is finished, not duplicated)."""
    stem = _REWRITTEN_SUFFIX.sub("", file.name.removesuffix(".parquet"))
    token = hashlib.sha256("\n".join([file.name, *sorted(removed)]).encode()).hexdigest()[:10]
    return f"{stem}-e{token}.parquet"


def rewrite_landing(store: LandingStore, hits: LandingHits) -> list[Rewrite]:
    """Each affected file written again without the erased rows, every other row as it was."""
    rewrites = []
    for path, removed in sorted(hits.files.items()):
        file = hits.listed[path]
        with store.open(path) as handle:
            table = pq.read_table(handle)
        kept = table.filter(pc.invert(pc.is_in(table["delivery_id"],
                                               value_set=pa.array(sorted(removed)))))
        data = encode_table(kept).to_pybytes() if kept.num_rows else None
        new = store.replace(file, rewritten_name(file, removed), data)
        rewrites.append(Rewrite(path, new, table.num_rows - kept.num_rows,
                                len(data) if data else 0))
    return rewrites


def sweep_landing(con: duckdb.DuckDBPyConnection, store: LandingStore,
                  erased: dict[str, set[str]]) -> list[Rewrite]:
    """Rewrite the landing files a load found tombstoned rows in (a replica's journal published
    after the erasure, say) without them, and point the per-file watermark at the new files:
    the erased person's bytes leave landing with the next run, without anyone running
    `osvi forget` again."""
    if not erased:
        return []
    days = {path.rsplit("/", 2)[-2].removeprefix(PARTITION_PREFIX) for path in erased}
    listed = {file.path: file for day in sorted(days) for file in store.files(day)}
    files = {path: ids for path, ids in erased.items() if path in listed}
    rewrites = rewrite_landing(store, LandingHits(Found(), files, listed))
    with transaction(con):
        for rewrite in rewrites:
            _repoint_loaded_file(con, rewrite)
    return rewrites


def find_in_warehouse(con: duckdb.DuckDBPyConnection, subjects: Sequence[Subject],
                      also: Found) -> Found:
    """The subjects' deliveries in the working file: by their text, by their calls, and the
    calls and deliveries found in landing (removed there by an interrupted attempt, say)."""
    found = Found()
    if not table_exists(con, "main", "deliveries"):
        return found
    for delivery_id, call_log_id, subject in _owned_rows(con, "deliveries", subjects, {}):
        found.add(int(str(subject)), str(delivery_id),
                  None if call_log_id is None else str(call_log_id))
    # What landing found, by call or delivery: one query per subject.
    for subject in sorted(set(also.calls) | set(also.deliveries)):
        for delivery_id, call_log_id in con.execute(
                "select delivery_id, call_log_id from deliveries "
                "where call_log_id in (select unnest($calls::varchar[])) "
                "or delivery_id in (select unnest($deliveries::varchar[]))",
                {"calls": sorted(also.calls.get(subject, ())),
                 "deliveries": sorted(also.deliveries.get(subject, ()))}).fetchall():
            found.add(subject, str(delivery_id), None if call_log_id is None else str(call_log_id))
    return found


def delete_from_warehouse(con: duckdb.DuckDBPyConnection, found: Found,
                          rewrites: Sequence[Rewrite], store: LandingStore) -> int:
    """Delete the deliveries and record them as changed (the models downstream, the published
    copies and the export destinations take the deletions from the change log); point the
    per-file watermark at the rewritten files. One transaction. Returns deliveries deleted."""
    ids = sorted(found.all_deliveries())
    deleted = 0
    with transaction(con):
        if ids and table_exists(con, "main", "deliveries"):
            params: dict[str, object] = {"ids": ids}
            erased = "delivery_id in (select unnest($ids::varchar[]))"
            deleted = int(scalar(con, f"select count(*) from deliveries where {erased}", params))
            record_delivery_changes(con, f"select * from deliveries where {erased}", params)
            con.execute(f"delete from deliveries where {erased}", params)
        if table_exists(con, "osvi_state", "loaded_files"):
            register_landing(con, store)
            for rewrite in rewrites:
                _repoint_loaded_file(con, rewrite)
    return deleted


def _repoint_loaded_file(con: duckdb.DuckDBPyConnection, rewrite: Rewrite) -> None:
    """The windows that loaded the old file hold the new one's rows: say so, so the next load
    by file appends nothing twice and replaces no window."""
    windows = con.execute("select window_start, window_end from osvi_state.loaded_files "
                          "where path = $old", {"old": rewrite.old}).fetchall()
    con.execute("delete from osvi_state.loaded_files where path = $old", {"old": rewrite.old})
    if rewrite.new is None:
        return
    for start, end in windows:
        con.execute("""
            insert into osvi_state.loaded_files
            select $start, $end, $new, count(*), now() from read_parquet($new)
            where received_at >= $start and received_at < $end
        """, {"start": start, "end": end, "new": rewrite.new})


# --- Tombstones: what every load drops -------------------------------------------------------

CREATE_TOMBSTONES = """
create or replace temp table erasure_tombstones (match_hash varchar, erased_at timestamptz)
"""


def tombstoned(received_at: str = "received_at", text: str = _TEXT,
               call_log_id: str = "call_log_id") -> str:
    """The SQL test of a landing row against the tombstones (parameter $erasure_salt): the
    hashes its values stand for (each number-like run in its text, as digits, and its call id;
    the text the ledger hashed, osvi_core.erasure.match_value) meet a tombstone set after the
    row was received."""
    return f"""exists (
        select 1 from erasure_tombstones as t
        where t.erased_at > {received_at}
          and t.match_hash in (
              select sha256($erasure_salt || '{match_value("phone", "")}'
                            || ltrim(regexp_replace(n, '[^0-9]', '', 'g'), '0'))
              from unnest(regexp_extract_all({text}, '{NUMBER_IN_TEXT}')) as numbers(n)
              union all
              select sha256($erasure_salt || '{match_value("call_id", "")}' || {call_log_id})
          )
    )"""


def load_tombstones(con: duckdb.DuckDBPyConnection, tombstones: Sequence[Tombstone]) -> bool:
    """The tombstones as a temp table of the connection; False when there are none (loads then
    skip the test entirely)."""
    con.execute(CREATE_TOMBSTONES)
    rows = [(match_hash, tombstone.erased_at) for tombstone in tombstones
            for match_hash in tombstone.match_hashes]
    if rows:
        con.executemany("insert into erasure_tombstones values ($1, $2)", rows)
    return bool(rows)


# --- The record analysts query ----------------------------------------------------------------

CREATE_ERASURES = """
create table if not exists erasures (
    erased_at timestamptz not null,
    subject_hash varchar not null,
    calls bigint not null,
    deliveries bigint not null,
    reason varchar
)
"""


def write_erasures(con: duckdb.DuckDBPyConnection, tombstones: Sequence[Tombstone]) -> int:
    """`erasures`: one row per finished erasure of a subject (the ledger is the source: it
    survives a rebuild of the working file)."""
    rows = [(t.erased_at, t.subject_hash, t.calls, t.deliveries, t.reason)
            for t in tombstones if t.done]
    with transaction(con):
        con.execute(CREATE_ERASURES)
        con.execute("delete from erasures")
        if rows:
            con.executemany("insert into erasures values ($1, $2, $3, $4, $5)", rows)
    return len(rows)
