"""Sending the published warehouse to OSVI_EXPORT_DESTINATIONS with dlt (docs/export.md).

What is exported is what OSVI_WAREHOUSE holds (masked when OSVI_PII=mask), read from the
published copy, never the working file (a run may hold it). A destination takes each table's
rows changed since the publication it holds, found in the change records the copy carries
(published_copy.carry_changes), and merges them on the table's key with dlt's `delete-insert`
strategy; keys whose rows are gone (a day rebuilt, a call erased) are sent as deletions. A table
without a key (the marts, rebuilt in full each run) is replaced whenever a publication changed
anything; so is a table whose columns changed or whose destination is further behind than the
records go. Each table's watermark is dlt's resource state, which dlt stores at the destination
with the load: a failed load leaves the watermark where the destination is, and the next export
takes everything since.

Names are the warehouse's own (dlt's `direct` naming convention: `callback slot` and
`appointment__date` stay as they are); `_osvi_deleted` is dlt's hard-delete column (always false
at the destination).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from osvi_pipeline.lib.sql_names import quote_identifier
from osvi_pipeline.warehouse.change_log import TableScope, fingerprint
from osvi_pipeline.warehouse.queries import column_types, scalar, table_exists

# The contract's exported tables, in the order they are sent.
EXPORTED_TABLES = ("calls", "data_capture", "structured_output", "rejected_deliveries",
                   "field_catalog", "campaign_daily", "campaign_outcomes",
                   "campaign_field_rates", "daily_summary", "campaign_flags")
DELETED = "_osvi_deleted"
BATCH_ROWS = 100_000
SCHEMA_NAME = "osvi"


class _KnownHintDifferences(logging.Filter):
    """dlt warns on every load that our column hints (JSON, the hard-delete marker) differ from
    the Arrow types they describe: by design here, and a line per table per run otherwise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "when merging arrow schema with dlt schema" not in record.getMessage()


logging.getLogger("dlt").addFilter(_KnownHintDifferences())


class ExportConfigError(ValueError):
    """A destination cannot be used as configured; the message names it and the missing keys,
    never a value."""


@dataclass(frozen=True)
class TablePlan:
    table: str
    key: str | None
    full: bool  # replace the table at the destination
    after: int  # the destination's watermark (-1: none)
    upto: int  # the copy's newest change record
    columns: str  # fingerprint of the table's columns
    # A mart rebuilt in full every run but sent by day: the days whose rows differ from what
    # the destination holds (day_hashes); None for the other plans.
    days: list[str] | None = None
    day_hashes: dict[str, str] | None = None  # every day's hash now, for the state

    @property
    def idle(self) -> bool:
        if self.days is not None:
            return not self.days
        return not self.full and self.upto <= self.after


PROJECT_DIR_VARIABLE = "DLT_PROJECT_DIR"
_PROJECT_DIRS_SET: set[str] = set()  # values this process gave it (tests use several data dirs)


def use_data_dir(data_dir: Path) -> None:
    """dlt reads `.dlt/config.toml` and `secrets.toml` from $OSVI_DATA_DIR (DLT_PROJECT_DIR,
    unless set), whatever the working directory. dlt fixes its configuration providers when
    first imported, so they are reloaded here."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    # A load package keeps a copy of the rows it sent; deleted once loaded, so no person
    # `osvi forget` erased stays in $OSVI_DATA_DIR/export/ (docs/erasure.md).
    os.environ.setdefault("LOAD__DELETE_COMPLETED_JOBS", "true")
    current = os.environ.get(PROJECT_DIR_VARIABLE)
    if current == str(data_dir) or (current is not None and current not in _PROJECT_DIRS_SET):
        return  # already, or the user's own
    os.environ[PROJECT_DIR_VARIABLE] = str(data_dir)
    _PROJECT_DIRS_SET.add(str(data_dir))
    Container()[PluggableRunContext].reload()


def copy_log_bounds(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(floor, newest change) of the copy's export records; (0, 0) before any."""
    if not table_exists(con, "osvi_state", "export_floor"):
        return 0, 0
    floor = int(scalar(con, "select coalesce(max(change_id), 0) from osvi_state.export_floor"))
    newest = int(scalar(con, "select coalesce(max(change_id), 0) from "
                             "osvi_state.export_changes"))
    return floor, max(floor, newest)


def plan_table(con: duckdb.DuckDBPyConnection, table: str, types: dict[str, str],
               scope: TableScope, state: dict[str, Any], force_full: bool,
               merge_supported: bool) -> TablePlan:
    """`types`: the table's column_types."""
    floor, upto = copy_log_bounds(con)
    columns = fingerprint(list(types.items()))
    same_columns = state.get("columns") == columns
    after = int(state.get("change_id", -1))
    key = scope.key if merge_supported else None
    if key is None and merge_supported and DAY_KEY in types:
        # The marts are rebuilt in full by every run, yet a run changes a few of their days:
        # each day's rows are hashed, and only the days that differ are sent (merged by day).
        hashes = day_hashes(con, table)
        before = state.get("day_hashes")
        if force_full or before is None or not same_columns:
            return TablePlan(table, DAY_KEY, True, after, upto, columns, None, hashes)
        changed = sorted(day for day in set(hashes) | set(before)
                         if hashes.get(day) != before.get(day))
        return TablePlan(table, DAY_KEY, False, after, upto, columns, changed, hashes)
    if key is None:  # replaced whenever anything was published since
        return TablePlan(table, None, force_full or after < upto or not same_columns, after,
                         upto, columns)
    rebuilt = after >= 0 and scalar(
        con, "select count(*) from osvi_state.export_changes where change_id > $after and "
             "change_id <= $upto and key is null and list_contains($sources, source)",
        {"after": after, "upto": upto, "sources": sorted(set(scope.sources) | {table})})
    full = force_full or after < floor or bool(rebuilt) or not same_columns
    return TablePlan(table, key, full, after, upto, columns)


DAY_KEY = "call_date"


def day_hashes(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Each day's rows as one order-independent hash (milliseconds for a mart)."""
    return {str(day): str(value) for day, value in con.execute(
        f"select {DAY_KEY}::varchar, sum(hash(t))::varchar from {quote_identifier(table)} as t "
        "group by all").fetchall()}


NESTED = ("[]", "STRUCT(", "MAP(", "UNION(")  # DuckDB type names of nested values


def json_columns(types: dict[str, str]) -> list[str]:
    """Columns sent as JSON (lists, structs and maps, and JSON itself): every destination can
    hold JSON (PostgreSQL jsonb, BigQuery JSON, Snowflake VARIANT), not every one a list."""
    return [name for name, data_type in types.items()
            if data_type == "JSON" or any(marker in data_type for marker in NESTED)]


def select_list(types: dict[str, str]) -> str:
    nested = json_columns(types)
    if not nested:
        return "*"
    return "* replace (" + ", ".join(f"to_json({quote_identifier(name)})::varchar as "
                                     f"{quote_identifier(name)}" for name in sorted(nested)) + ")"


def changed_rows(con: duckdb.DuckDBPyConnection, plan: TablePlan, types: dict[str, str],
                 scope: TableScope) -> Iterator[pa.RecordBatch]:
    """The rows of the changed keys (or a mart's changed days), and a deletion for each key
    whose rows are gone; or every row when the plan is full."""
    table = quote_identifier(plan.table)
    columns = select_list(types)
    params: dict[str, object] = {}
    if plan.full:
        sql = f"select {columns} from {table}"
    else:
        assert plan.key is not None
        key = quote_identifier(plan.key)
        if plan.days is not None:
            changed = "select unnest($days::date[])"
            params = {"days": plan.days}
        else:
            changed = (f"select distinct key::{types[plan.key]} from osvi_state.export_changes "
                       "where change_id > $after and change_id <= $upto and scope = $scope "
                       "and list_contains($sources, source) and key is not null")
            params = {"after": plan.after, "upto": plan.upto, "scope": plan.key,
                      "sources": sorted(set(scope.sources) | {plan.table})}
        sql = (f"select {columns}, false as {DELETED} from {table} where {key} in ({changed}) "
               f"union all by name select k as {key}, true as {DELETED} from ({changed}) as "
               f"c(k) where k not in (select {key} from {table})")
    reader: pa.RecordBatchReader = con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
    yield from reader


@dataclass(frozen=True)
class Destination:
    name: str  # the dlt destination name, as in OSVI_EXPORT_DESTINATIONS
    dataset: str
    pipelines_dir: Path
    table_format: str | None = None  # filesystem: "iceberg", or "files" (plain Parquet)

    @property
    def pipeline_name(self) -> str:
        return f"osvi_export_{self.name}"

    def pipeline(self) -> Any:
        import dlt

        return dlt.pipeline(pipeline_name=self.pipeline_name, destination=self.name,
                            dataset_name=self.dataset, pipelines_dir=str(self.pipelines_dir))

    def merge_supported(self, pipeline: Any) -> bool:
        """Whether changed rows can be merged (SQL destinations); files are replaced."""
        return "delete-insert" in (pipeline.destination.capabilities()
                                   .supported_merge_strategies or [])

    def loader_file_format(self) -> str | None:
        # PostgreSQL: Parquet through ADBC's binary COPY (dlt's CSV COPY turns "" into NULL)
        return "parquet" if self.name == "postgres" else None


def check_destination(destination: Destination) -> str | None:
    """Why the destination cannot be used as configured (its name and the missing keys, never
    a value), or None. Reads configuration only: nothing is contacted."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.common.destination.exceptions import UnknownDestinationModule

    prefix = f"OSVI_EXPORT_DESTINATIONS: {destination.name}"
    try:
        destination.pipeline().destination_client()
    except UnknownDestinationModule:
        return f"{prefix} is not a dlt destination (https://dlthub.com/docs/dlt-ecosystem/" \
               "destinations/)"
    except ConfigFieldMissingException as missing:
        keys = ", ".join(_missing_keys(missing))
        variable = f"DESTINATION__{destination.name.upper()}__"
        return (f"{prefix}: missing {keys} (set {variable}<KEY> in the environment or "
                f"[destination.{destination.name}] in $OSVI_DATA_DIR/.dlt/secrets.toml)")
    return None


def _missing_keys(missing: Any) -> list[str]:
    """`credentials` or `credentials.host`-style names of the missing fields (nested
    configurations named field by field)."""
    keys = []
    for field in missing.fields:
        nested = [name for trace in missing.traces.get(field, [])
                  for name in (getattr(trace, "traces", None) or {})]
        keys.extend([f"{field}.{name}" for name in nested] or [field])
    return keys


# DuckDB type -> the dlt data type a column of it becomes at the destination.
DLT_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "bigint", "DOUBLE": "double",
             "BOOLEAN": "bool", "DATE": "date", "TIMESTAMP WITH TIME ZONE": "timestamp",
             "TIMESTAMP": "timestamp", "JSON": "json", "HUGEINT": "decimal"}


def retyped_tables(pipeline: Any, published: Path,
                   tables: tuple[str, ...] = EXPORTED_TABLES) -> list[str]:
    """Exported tables with a column whose type changed since the destination took it (a wide
    column widened to VARCHAR when a field's values stopped fitting its type). A destination
    cannot change a column's type in place (dlt would add a variant column beside it), so these
    are dropped and created again."""
    if not pipeline.default_schema_name:  # the last run's schema is kept locally, else ask
        pipeline.sync_destination()
    if not pipeline.default_schema_name:
        return []
    held = pipeline.default_schema.tables
    retyped = []
    with duckdb.connect(str(published), read_only=True) as con:
        for table in tables:
            if table not in held:
                continue
            types = column_types(con, table)
            nested = set(json_columns(types))
            for name, data_type in types.items():
                expected = "json" if name in nested else DLT_TYPES.get(data_type)
                before = held[table]["columns"].get(name, {}).get("data_type")
                if expected and before and before != expected:
                    retyped.append(table)
                    break
    return retyped


def export_source(published: Path, scopes: dict[str, TableScope], force_full: bool,
                  merge_supported: bool, table_format: str | None,
                  tables: tuple[str, ...] = EXPORTED_TABLES) -> Any:
    """A dlt source with one resource per exported table; each decides at extraction what to
    send (plan_table) and records its watermark in its resource state."""
    import dlt

    schema = dlt.Schema(SCHEMA_NAME, normalizers={"names": "direct"})

    @dlt.source(schema=schema)
    def osvi() -> list[Any]:
        table_hint = "iceberg" if table_format == "iceberg" else None
        return [dlt.resource(_table_rows, name=table, table_format=table_hint)(  # type: ignore[call-overload]
            published, table, scopes.get(table, TableScope(None, frozenset())), force_full,
            merge_supported) for table in tables]

    return osvi()


def _table_rows(published: Path, table: str, scope: TableScope, force_full: bool,
                merge_supported: bool) -> Iterator[Any]:
    import dlt

    state = dlt.current.resource_state()
    with duckdb.connect(str(published), read_only=True) as con:
        types = column_types(con, table)
        if not types:  # not built (yet)
            return
        plan = plan_table(con, table, types, scope, state, force_full, merge_supported)
        if plan.idle:
            return
        typed: dict[str, Any] = {name: {"name": name, "data_type": "json"}
                                 for name in json_columns(types)}
        hints = (dlt.mark.make_hints(write_disposition="replace", columns=typed or None)
                 if plan.full else dlt.mark.make_hints(
                     write_disposition={"disposition": "merge", "strategy": "delete-insert"},
                     merge_key=plan.key, columns={**typed, DELETED: {
                         "name": DELETED, "data_type": "bool", "hard_delete": True}}))
        sent = False
        for batch in changed_rows(con, plan, types, scope):
            yield dlt.mark.with_hints(batch, hints) if not sent else batch
            sent = True
        if not sent and plan.full:  # an emptied table is replaced by no rows
            # (as SQL inserts: dlt's ADBC Parquet loader fails on a file without rows)
            empty = con.sql(f"select {select_list(types)} from "
                            f"{quote_identifier(table)} limit 0").to_arrow_table()
            hints["file_format"] = "insert_values"
            yield dlt.mark.with_hints(empty, hints)
    state["change_id"] = plan.upto
    state["columns"] = plan.columns
    if plan.day_hashes is not None:
        state["day_hashes"] = plan.day_hashes


def prune_table_history(destination: Destination) -> int:
    """Iceberg keeps every snapshot and its files, so after an erasure the person is still in
    the earlier ones (data files, and the column bounds of their manifests). Expire every
    snapshot but the current one and delete the files it does not reference; return how many
    were deleted. Other destinations keep no history of their own here: 0."""
    if destination.table_format != "iceberg":
        return 0
    from dlt.common.libs.pyiceberg import get_iceberg_tables

    pipeline = destination.pipeline()
    filesystem = pipeline.destination_client().fs_client
    deleted = 0
    for table in get_iceberg_tables(pipeline).values():
        current = table.current_snapshot()
        if current is None:
            continue
        older = [snapshot.snapshot_id for snapshot in table.snapshots()
                 if snapshot.snapshot_id != current.snapshot_id]
        if older:
            table.maintenance.expire_snapshots().by_ids(older).commit()
        keep = {table.metadata_location, current.manifest_list}
        for manifest in current.manifests(table.io):
            keep.add(manifest.manifest_path)
            keep.update(entry.data_file.file_path
                        for entry in manifest.fetch_manifest_entry(table.io))
        kept = {_without_scheme(path) for path in keep}
        for path in filesystem.find(_without_scheme(table.location())):
            if path not in kept:
                filesystem.rm(path)
                deleted += 1
    return deleted


def _without_scheme(path: str) -> str:
    return path.split("://", 1)[-1].rstrip("/")
