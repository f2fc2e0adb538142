"""`deliveries`: the landing rows of each OSVI_TIMEZONE day, loaded idempotently."""


from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from duckdb import DuckDBPyConnection

from osvi_pipeline.incremental import ScopeKey, ensure_state, record_changes
from osvi_pipeline.landing_reader import files_for_window, inspect_landing_files
from osvi_pipeline.resources import WAREHOUSE_POOL, OsviOptions
from osvi_pipeline.templates_load import normalize_template_deliveries

# The bodies are most of the table: ZSTD stores their JSON text in a third of the space of
# DuckDB's default string encoding, and writes it faster (1M deliveries: 58 MB in 1.9 s vs
# 179 MB in 3.4 s; a full scan reads 0.2 s slower). The snapshot copy every run makes shrinks
# with it. A column's compression cannot be changed in place: older warehouses keep theirs.
CREATE_DELIVERIES = """
create table if not exists deliveries (
    delivery_id varchar not null,
    received_at timestamptz not null,
    received_day date not null,
    integration varchar not null,
    method varchar not null,
    path varchar not null,
    query varchar,
    headers varchar not null,
    body varchar using compression zstd,
    body_sha256 varchar,
    call_log_id varchar,
    parse_error varchar,
    body_base64 varchar,
    normalized_body varchar using compression zstd,  -- the Auto body a template stands for
    synthetic_id boolean,     -- call_log_id derived from integration + body hash
    kind varchar              -- 'call_status' for per-call status webhooks, else null
)
"""
UPGRADE_DELIVERIES = [
    "alter table deliveries add column if not exists normalized_body varchar "
    "using compression zstd",
    "alter table deliveries add column if not exists synthetic_id boolean",
    "alter table deliveries add column if not exists kind varchar",
]

# Delete-then-insert of the window in one transaction: re-running a day or a backfill leaves
# exactly the landing rows, never duplicates.
DELETE_WINDOW = "delete from deliveries where received_at >= $start and received_at < $end"
LOCAL_DAY = "timezone($tz, received_at)::date"  # the OSVI_TIMEZONE day of a delivery
# Landing is read by column name (union_by_name): files of earlier versions or of other
# producers may lack an optional column or carry columns of their own (ignored).
INSERT_WINDOW = f"""
insert into deliveries by name
select * exclude (received_at), received_at::timestamptz as received_at,
       {LOCAL_DAY} as received_day
from (select {{columns}} from read_parquet($files, union_by_name = true))
where received_at >= $start and received_at < $end
"""
# Rows loaded while OSVI_TIMEZONE was another zone (a scan of one column: ~25 ms at 300,000).
MISLABELED = f"received_day <> {LOCAL_DAY}"
COUNT_WINDOW = "select count(*) from deliveries where received_at >= $start and received_at < $end"
COUNT_LANDING = """
select count(*) from read_parquet($files, union_by_name = true)
where received_at >= $start and received_at < $end
"""


def record_window_changes(con: DuckDBPyConnection, params: dict[str, object]) -> None:
    """The days and calls of the window's rows, for the incremental models downstream."""
    for key in ("received_day", "call_log_id"):
        record_changes(con, "deliveries", key, f"select {key} from deliveries "
                       "where received_at >= $start and received_at < $end", params)


def relabel_days(con: DuckDBPyConnection, timezone: str) -> int:
    """Move deliveries loaded under another OSVI_TIMEZONE to their day in this one; return how
    many moved. Without it, a changed zone applied only to the days loaded again afterwards:
    older days kept the old zone's boundaries, and calls near midnight their old call_date."""
    params: dict[str, object] = {"tz": timezone}
    moved = int(con.execute(f"select count(*) from deliveries where {MISLABELED}",
                            params).fetchall()[0][0])
    if moved:  # the old days, the new days and the calls all feed the models downstream
        changed: list[tuple[ScopeKey, str]] = [("received_day", "received_day"),
                                               ("received_day", LOCAL_DAY),
                                               ("call_log_id", "call_log_id")]
        for scope, keys in changed:
            record_changes(con, "deliveries", scope,
                           f"select {keys} from deliveries where {MISLABELED}", params)
        con.execute(f"update deliveries set received_day = {LOCAL_DAY} where {MISLABELED}",
                    params)
    return moved


def build_deliveries_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="deliveries",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),  # a backfill is one run, one load
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        group_name="warehouse",
        description="One row per stored delivery (the landing columns plus received_day, the "
                    "OSVI_TIMEZONE day). Grain: delivery.",
        check_specs=[dg.AssetCheckSpec("landing_rows_equal_deliveries", asset="deliveries",
                                       description="Every landing row of the window is loaded, "
                                                   "once.")],
    )
    def deliveries(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   osvi: OsviOptions) -> dg.MaterializeResult:  # type: ignore[type-arg]
        window = context.partition_time_window
        landing = inspect_landing_files(
            files_for_window(osvi.landing, window.start, window.end), Path(osvi.quarantine_dir))
        files = landing.readable
        for moved in landing.quarantined:
            context.log.warning(f"landing file moved to {moved['file']}: {moved['reason']}")
        if landing.ignored_columns:
            context.log.info(f"landing columns ignored: {sorted(landing.ignored_columns)}")
        params = {"start": window.start, "end": window.end}
        with duckdb.get_connection() as con:
            con.execute(CREATE_DELIVERIES)
            for statement in UPGRADE_DELIVERIES:
                con.execute(statement)
            ensure_state(con)
            con.execute("begin transaction")
            relabeled = relabel_days(con, osvi.timezone)
            record_window_changes(con, params)  # what the old rows fed downstream...
            con.execute(DELETE_WINDOW, params)
            if files:
                con.execute(INSERT_WINDOW.format(columns=landing.select_list()),
                            {**params, "files": files, "tz": osvi.timezone})
            ambiguous = normalize_template_deliveries(con, osvi, params)
            record_window_changes(con, params)  # ...and what the new rows feed
            con.execute("commit")
            loaded = con.execute(COUNT_WINDOW, params).fetchone()[0]
            landed = (con.execute(COUNT_LANDING, {**params, "files": files}).fetchone()[0]
                      if files else 0)
        if relabeled:
            context.log.warning(f"OSVI_TIMEZONE is {osvi.timezone} now: {relabeled} deliveries "
                                "loaded under another zone moved to their day in it")
        days = context.partition_key_range  # inclusive, unlike the window's end
        context.log.info(f"{loaded} deliveries for {days.start}"
                         + ("" if days.start == days.end else f"..{days.end}"))
        return dg.MaterializeResult(
            metadata={"rows": dg.MetadataValue.int(loaded),
                      "landing_files": dg.MetadataValue.int(len(files)),
                      "quarantined_files": dg.MetadataValue.json(landing.quarantined),
                      "ignored_landing_columns": dg.MetadataValue.json(landing.ignored_columns),
                      "relabeled_for_timezone": dg.MetadataValue.int(relabeled),
                      "ambiguous_template_slots": dg.MetadataValue.json(ambiguous)},
            check_results=[dg.AssetCheckResult(
                check_name="landing_rows_equal_deliveries", passed=loaded == landed,
                metadata={"landing_rows": landed, "deliveries_rows": loaded})],
        )

    return deliveries
