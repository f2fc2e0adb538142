"""Landing files of every shape the project or a user's script has written load side by side.

The project has written one landing schema so far (osvi_core/landing.py, since its first
commit: the contract's columns plus `body_base64`); CONTRACT.md documents the contract's
columns alone, which is what a user's own producer writes. All of them, a file with a column
of its own, a file written by pandas (nanosecond timestamps) and one that lacks a required
column share one day.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from osvi_core.landing import LANDING_SCHEMA, OPTIONAL_COLUMNS, PARTITION_PREFIX
from tests.support.config import make_settings
from tests.support.pipeline import query, run

DAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CONTRACT_SCHEMA = pa.schema([field for field in LANDING_SCHEMA
                             if field.name not in OPTIONAL_COLUMNS])


def landing_row(call_id: str, minute: int) -> dict[str, Any]:
    body = orjson.dumps({"call_log_id": call_id, "call_status": "picked",
                         "call_trigger_data": {"campaign": "compat"}}).decode()
    return {"delivery_id": f"d-{call_id}", "received_at": DAY + timedelta(minutes=minute),
            "integration": "crm", "method": "POST", "path": "/webhooks/crm", "query": None,
            "headers": "{}", "body": body,
            "body_sha256": hashlib.sha256(body.encode()).hexdigest(), "call_log_id": call_id,
            "parse_error": None}


def write(folder: Path, name: str, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, folder / name)


def test_every_landing_schema_loads_in_one_day(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    folder = settings.layout.landing_dir / f"{PARTITION_PREFIX}{DAY.date()}"
    folder.mkdir(parents=True)
    # 1. what the ingest writes (every version so far): contract columns + body_base64
    write(folder, "ingest.parquet", [{**landing_row("ingest", 1), "body_base64": None}],
          LANDING_SCHEMA)
    # 2. exactly the contract's columns: a user's own producer following the documented layout
    write(folder, "contract.parquet", [landing_row("contract", 2)], CONTRACT_SCHEMA)
    # 3. a producer's extra column, ignored
    write(folder, "extra.parquet", [{**landing_row("extra", 3), "source_system": "zapier"}],
          CONTRACT_SCHEMA.append(pa.field("source_system", pa.string())))
    # 4. pandas: nanosecond timestamps, columns in another order
    frame = pd.DataFrame([landing_row("pandas", 4)])
    frame[list(reversed(frame.columns))].to_parquet(folder / "pandas.parquet")
    # 5. no body column: cannot be loaded, quarantined with the reason
    write(folder, "no-body.parquet", [landing_row("no-body", 5)],
          pa.schema([field for field in CONTRACT_SCHEMA if field.name != "body"]))

    result = run(settings, str(DAY.date()))

    assert query(settings, "select call_log_id from calls order by 1") == [
        ("contract",), ("extra",), ("ingest",), ("pandas",)]
    assert query(settings, "select campaign, calls from campaign_daily") == [("compat", 4)]
    assert query(settings, "select count(*) from deliveries where received_at = $at",
                 {"at": DAY + timedelta(minutes=4)}) == [(1,)], "pandas' timestamp kept"
    quarantine = settings.layout.quarantine_dir / "landing-incompatible"
    assert [p.name for p in quarantine.glob("*.parquet")] == [
        f"{PARTITION_PREFIX}{DAY.date()}-no-body.parquet"]
    reason = (quarantine / f"{PARTITION_PREFIX}{DAY.date()}-no-body.parquet.reason.txt")
    assert reason.read_text().strip() == "missing required column(s): body"
    metadata = result.asset_materializations_for_node("deliveries")[0].metadata
    assert metadata["ignored_landing_columns"].value == {"source_system": 1}
    [quarantined] = metadata["quarantined_files"].value  # type: ignore[misc]
    assert quarantined["reason"] == "missing required column(s): body"
    [conservation] = [check for check in result.get_asset_check_evaluations()
                      if check.check_name == "landing_rows_equal_deliveries"]
    assert conservation.passed


def test_a_day_of_only_contract_files_loads(tmp_path: Path) -> None:
    """The reported failure: no file of the day has body_base64 (Binder Error before)."""
    settings = make_settings(tmp_path)
    folder = settings.layout.landing_dir / f"{PARTITION_PREFIX}{DAY.date()}"
    folder.mkdir(parents=True)
    write(folder, "a.parquet", [landing_row("a", 1), landing_row("b", 2)], CONTRACT_SCHEMA)
    run(settings, str(DAY.date()))
    assert query(settings, "select count(*), count(body_base64) from deliveries") == [(2, 0)]
    assert query(settings, "select count(*) from calls") == [(2,)]
