"""A four-load history (simulated and seed calls, a bad body, a call-status report, late
deliveries) and a table-by-table comparison of two warehouses, shared by the incremental and
masking tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import duckdb
import orjson

from osvi_cli.simulate import generate_deliveries
from osvi_core.landing import LandingRow
from osvi_pipeline.lib.sql_names import quote_identifier
from tests.support.config import sample_payload_bytes
from tests.support.pipeline import delivery

DAY1 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def simulated(day: datetime, count: int, seed: int) -> list[LandingRow]:
    return [delivery(day + timedelta(seconds=index), orjson.loads(item.body),
                     integration=item.integration)
            for index, item in enumerate(islice(generate_deliveries(count, seed=seed), count))]


def seed_call(**changes: object) -> dict[str, object]:
    body = json.loads(sample_payload_bytes())
    body.update(changes)
    return body


def landings() -> list[list[LandingRow]]:
    """Four loads: three days, then late deliveries for the second day."""
    status = {"call_log_id": "attempt-1", "call_status": "busy", "executionMode": "prod"}
    return [
        [*simulated(DAY1, 60, seed=1), delivery(DAY1, seed_call()),
         delivery(DAY1, b"not json", integration="crm")],
        [*simulated(DAY1 + DAY, 60, seed=2),
         # the seed call again, a day later, with a field whose type now conflicts
         delivery(DAY1 + DAY, seed_call(data_capture={"customer_name": 42}))],
        [*simulated(DAY1 + 2 * DAY, 60, seed=3),
         delivery(DAY1 + 2 * DAY, {"call_log_id": "new-field",
                                   "data_capture": {"brand_new": True}}),
         delivery(DAY1 + 2 * DAY, status, integration="status")],
        [delivery(DAY1 + DAY + timedelta(hours=3),
                  seed_call(call_summary="late", data_capture={"late_field": "x"})),
         *simulated(DAY1 + DAY + timedelta(hours=4), 10, seed=4)],
    ]


def integrations_file(path: Path) -> Path:
    path.write_text("integrations:\n"
                    "  - name: crm\n    tokens: [\"crm-token-123\"]\n"
                    "  - name: sheet\n    tokens: [\"sheet-token-123\"]\n"
                    "  - name: status\n    mode: call_status\n    tokens: [\"status-tok-123\"]\n",
                    encoding="utf-8")
    return path


def differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Tables whose rows differ: name -> (rows only left, rows only right)."""
    found = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{left}' as l (read_only)")
        con.execute(f"attach '{right}' as r (read_only)")
        tables = con.execute("select table_name from duckdb_tables() where database_name = 'l' "
                             "and schema_name = 'main' order by 1").fetchall()
        for (table,) in tables:
            columns = con.execute(
                "select column_name, data_type from duckdb_columns() where database_name = 'l' "
                "and table_name = $t order by column_index", {"t": table}).fetchall()
            listed = ", ".join(quote_identifier(column) for column, _ in columns)  # exact
            name = quote_identifier(table)
            only_left = con.execute(f"select count(*) from (select {listed} from l.{name} "
                                    f"except all select {listed} from r.{name})").fetchall()
            only_right = con.execute(f"select count(*) from (select {listed} from r.{name} "
                                     f"except all select {listed} from l.{name})").fetchall()
            if only_left[0][0] or only_right[0][0]:
                found[table] = (only_left[0][0], only_right[0][0])
    return found
