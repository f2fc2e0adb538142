"""Apply template inversion to a window of loaded deliveries (the DuckDB side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from ingest_api.integrations import load_integrations
from osvi_pipeline.normalize import auto_body
from osvi_pipeline.resources import OsviOptions
from osvi_pipeline.templates import compile_template, invert

TEMPLATE_ROWS = """
select delivery_id, integration, body, body_sha256 from deliveries
where received_at >= $start and received_at < $end and parse_error is null
  and body is not null and integration in (select unnest($names))
"""
APPLY = """
update deliveries as d
set normalized_body = n.normalized_body, call_log_id = n.call_log_id,
    synthetic_id = n.synthetic_id
from normalized_arrow as n
where d.delivery_id = n.delivery_id
"""


def normalize_template_deliveries(con: duckdb.DuckDBPyConnection, osvi: OsviOptions,
                                  window: dict[str, Any]) -> dict[str, list[str]]:
    """Rewrite the window's template deliveries as Auto bodies; return ambiguous slots
    per integration (reported once, not per row)."""
    if not osvi.integrations_file or not Path(osvi.integrations_file).exists():
        return {}
    templates = {name: compile_template(item.template)
                 for name, item in load_integrations(Path(osvi.integrations_file)).items()
                 if item.mode == "template" and item.template}
    if not templates:
        return {}
    rows = con.execute(TEMPLATE_ROWS, {**window, "names": list(templates)}).fetchall()
    ids: list[str] = []
    bodies: list[str] = []
    call_ids: list[str] = []
    synthetic: list[bool] = []
    ambiguous: dict[str, list[str]] = {}
    for delivery_id, integration, body, digest in rows:
        parsed = orjson.loads(body)
        inverted = invert(templates[integration], parsed)
        normalized, is_synthetic = auto_body(inverted, integration, digest)
        ids.append(delivery_id)
        bodies.append(orjson.dumps(normalized).decode())
        call_ids.append(normalized["call_log_id"])
        synthetic.append(is_synthetic)
        for location in inverted.ambiguous_slots:
            slots = ambiguous.setdefault(integration, [])
            text = ".".join(str(step) for step in location)
            if text not in slots:
                slots.append(text)
    if ids:
        con.register("normalized_arrow", pa.table({
            "delivery_id": ids, "normalized_body": bodies, "call_log_id": call_ids,
            "synthetic_id": synthetic}))
        con.execute(APPLY)
    return ambiguous
