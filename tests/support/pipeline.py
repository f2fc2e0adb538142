"""Land deliveries at chosen moments (through the real journal and landing writer) and run the
real asset graph on them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import dagster as dg
import duckdb
import orjson

from ingest_api.journal import DurableLanding
from osvi_core.body import inspect_body
from osvi_core.landing import LandingRow
from osvi_core.settings import Settings
from osvi_pipeline.runtime.materialize import materialize_days


def delivery(at: datetime, body: dict[str, Any] | bytes | None, *, integration: str = "crm",
             method: str = "POST", path: str = "") -> LandingRow:
    raw = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
    inspected = inspect_body(raw, method)
    return LandingRow(str(uuid.uuid4()), int(at.timestamp() * 1_000_000), integration, method,
                      f"/webhooks/{integration}{path}", None, "{}", inspected.text,
                      inspected.sha256, inspected.call_log_id, inspected.parse_error,
                      inspected.base64)


def land(settings: Settings, rows: Iterable[LandingRow]) -> None:
    store = DurableLanding.for_folder(settings.layout.landing_dir)
    store.append(list(rows))
    store.drain()


def run(settings: Settings, start: str, end: str | None = None,
        instance: dg.DagsterInstance | None = None, only_new_files: bool = False
        ) -> dg.ExecuteInProcessResult:
    result = materialize_days(settings, datetime.fromisoformat(start).date(),
                              datetime.fromisoformat(end or start).date(), instance=instance,
                              only_new_files=only_new_files)
    assert result.success, "materialization failed"
    return result


def query(settings: Settings, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def landing_sensor_evaluator(defs: dg.Definitions, instance: dg.DagsterInstance
                    ) -> Callable[[str | None], tuple[list[dg.RunRequest], str | None]]:
    """Evaluate the landing sensor as the daemon does: cursor in, (run requests, cursor) out."""
    sensor = defs.resolve_sensor_def("landing_sensor")

    def evaluate(cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
        # Only the resources the sensor asks for, as the daemon builds them (not the
        # warehouse's, whose setup takes the run lock).
        resources = {key: (defs.resources or {})[key] for key in sensor.required_resource_keys}
        context = dg.build_sensor_context(cursor=cursor, instance=instance,
                                          resources=resources, definitions=defs)
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return list(result.run_requests or []), result.cursor

    return evaluate
