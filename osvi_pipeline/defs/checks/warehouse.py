"""Asset checks across tables (visible in the Dagster UI); a model's own column tests come from
its header (defs/assets/sql.py)."""


import dagster as dg

from osvi_pipeline.defs.resources import WarehouseDuckDB
from osvi_pipeline.lib.report_render import SchemaChange, describe_change, describe_violation
from osvi_pipeline.warehouse.queries import scalar


def _count(duckdb: WarehouseDuckDB, sql: str) -> int:
    with duckdb.get_connection() as con:
        return int(scalar(con, sql))


@dg.asset_check(asset="rejected_deliveries", additional_deps=["call_deliveries"],
                description="Every delivery is exactly one of: a call's delivery, a call-status "
                            "report, a rejection.")
def every_delivery_is_a_call_or_a_rejection(duckdb: WarehouseDuckDB) -> dg.AssetCheckResult:
    unaccounted = _count(duckdb, """
        select count(*) from deliveries as d
        where not exists (select 1 from call_deliveries as c where c.delivery_id = d.delivery_id)
          and not exists (select 1 from rejected_deliveries as r
                          where r.delivery_id = d.delivery_id)
          and not (d.kind = 'call_status' and d.call_log_id is not null
                   and d.parse_error is null)""")
    both = _count(duckdb, """
        select count(*) from call_deliveries as c
        join rejected_deliveries as r using (delivery_id)""")
    return dg.AssetCheckResult(passed=unaccounted == 0 and both == 0,
                               metadata={"unaccounted": unaccounted, "in_both": both})


@dg.asset_check(asset="rejected_deliveries", description="Warns when deliveries were rejected.")
def no_rejected_deliveries(duckdb: WarehouseDuckDB) -> dg.AssetCheckResult:
    rejected = _count(duckdb, "select count(*) from rejected_deliveries")
    return dg.AssetCheckResult(passed=rejected == 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"rejected": rejected})


def _no_type_conflicts(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=table, name=f"{table}_has_no_type_conflicts",
                    description="Warns when a field's values have conflicting types (widened "
                                "to VARCHAR).")
    def check(duckdb: WarehouseDuckDB) -> dg.AssetCheckResult:
        with duckdb.get_connection() as con:
            rows = con.execute("select column_name, observed_types from field_catalog "
                               "where table_name = $t and conflict", {"t": table}).fetchall()
        return dg.AssetCheckResult(
            passed=not rows, severity=dg.AssetCheckSeverity.WARN,
            metadata={"conflicts": dg.MetadataValue.json({name: types for name, types in rows})})

    return check


SCHEMA_CHANGES_CHECK = "no_extraction_changes_on_the_latest_day"


@dg.asset_check(asset="schema_changes", name=SCHEMA_CHANGES_CHECK,
                description="Warns when an agent's extraction changed shape on the latest day "
                            "with calls: a path appeared, disappeared or changed type, or a "
                            "condition appeared or disappeared.")
def no_extraction_changes(duckdb: WarehouseDuckDB) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        rows = con.execute("""
            select agent_name, section, path, change, detail from schema_changes
            where change_date = (select max(call_date) from calls)
            order by all""").fetchall()
    changes = [describe_change(SchemaChange(*row)) for row in rows]
    return dg.AssetCheckResult(passed=not changes, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"changes": dg.MetadataValue.json(changes)})


CONTRACT_CHECK = "no_contract_violations_on_the_latest_day"


@dg.asset_check(asset="contract_violations", name=CONTRACT_CHECK,
                description="Warns when a delivery received on the latest day with calls "
                            "brought a path its integration's frozen contract did not have.")
def no_contract_violations(duckdb: WarehouseDuckDB) -> dg.AssetCheckResult:
    with duckdb.get_connection() as con:
        rows = con.execute("""
            select integration, section, path, count(*) from contract_violations
            where received_day = (select max(call_date) from calls)
            group by all order by all""").fetchall()
    violations = [describe_violation(*row) for row in rows]
    return dg.AssetCheckResult(passed=not violations, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"violations": dg.MetadataValue.json(violations)})


WAREHOUSE_CHECKS = [
    every_delivery_is_a_call_or_a_rejection,
    no_rejected_deliveries,
    _no_type_conflicts("data_capture"),
    _no_type_conflicts("structured_output"),
    no_extraction_changes,
    no_contract_violations,
]
