"""Normalize a window of loaded deliveries from Custom Template and URL-template integrations
into the Auto bodies they stand for (the DuckDB side of templates.py and url_templates.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from osvi_core.integrations import Integration, load_integrations
from osvi_pipeline.lib.auto_body import auto_body
from osvi_pipeline.lib.templates import Slot, compile_template, invert
from osvi_pipeline.lib.url_templates import LINK_KEYS, url_fields

WINDOW_ROWS = """
select delivery_id, integration, method, path, query, body, body_sha256 from deliveries
where received_at >= $start and received_at < $end and parse_error is null
  and integration in (select unnest($names))
"""
LINK_CANDIDATE = """
select call_log_id
from deliveries
where received_at >= $start and received_at < $end and call_log_id is not null
  and integration <> $integration
  and json_extract_string(coalesce(normalized_body, body), '$.call_trigger_data.' || $key)
      = $value
order by received_at, delivery_id
limit 1
"""
MARK_CALL_STATUS = """
update deliveries set kind = 'call_status'
where received_at >= $start and received_at < $end and integration in (select unnest($names))
"""
APPLY = """
update deliveries as d
set normalized_body = n.normalized_body, call_log_id = n.call_log_id,
    synthetic_id = n.synthetic_id
from normalized_arrow as n
where d.delivery_id = n.delivery_id
"""


@dataclass
class _Normalized:
    ids: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    synthetic: list[bool] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)

    def add(self, delivery_id: str, body: dict[str, Any], synthetic: bool) -> None:
        self.ids.append(delivery_id)
        self.bodies.append(orjson.dumps(body).decode())
        self.call_ids.append(str(body["call_log_id"]))
        self.synthetic.append(synthetic)


def normalize_template_deliveries(con: duckdb.DuckDBPyConnection,
                                  integrations_file: Path | None,
                                  window: dict[str, Any]) -> dict[str, list[str]]:
    """Rewrite the window's template and URL-template deliveries, mark call-status ones;
    return the ambiguous template slots per integration (reported once, not per row)."""
    if integrations_file is None or not integrations_file.exists():
        return {}
    integrations = load_integrations(integrations_file)
    status_names = [name for name, item in integrations.items() if item.mode == "call_status"]
    if status_names:
        con.execute(MARK_CALL_STATUS, {**window, "names": status_names})
    special = {name: item for name, item in integrations.items()
               if (item.mode == "template" and item.template) or item.url_template}
    if not special:
        return {}
    slots = {name: compile_template(item.template) for name, item in special.items()
             if item.mode == "template" and item.template}
    result = _Normalized()
    rows = con.execute(WINDOW_ROWS, {**window, "names": list(special)}).fetchall()
    for delivery_id, integration, method, path, query, body, digest in rows:
        normalized = _normalize(con, window, special[integration], slots.get(integration),
                                result, method, path, query, body, digest)
        if normalized is not None:
            result.add(delivery_id, *normalized)
    if result.ids:
        con.register("normalized_arrow", pa.table({
            "delivery_id": result.ids, "normalized_body": result.bodies,
            "call_log_id": result.call_ids, "synthetic_id": result.synthetic}))
        con.execute(APPLY)
    return result.ambiguous


def _normalize(con: duckdb.DuckDBPyConnection, window: dict[str, Any], item: Integration,
               template: list[Slot] | None, result: _Normalized, method: str, path: str,
               query: str | None, body: str | None, digest: str | None
               ) -> tuple[dict[str, Any], bool] | None:
    trigger = (url_fields(item.url_template, path.removeprefix(f"/webhooks/{item.name}"), query)
               if item.url_template else None) or {}
    if body is None:  # a GET or DELETE: the URL is all there is
        if not trigger:
            return None  # nothing to link or count: stays a rejected delivery
        linked = _link(con, window, item.name, trigger)
        synthetic = linked is None
        call_log_id = linked or "synthetic-" + hashlib.sha256(
            f"{item.name}\n{path}".encode()).hexdigest()[:32]
        return {"call_log_id": call_log_id, "call_trigger_data": trigger}, synthetic
    parsed = orjson.loads(body)
    if template is not None:
        inverted = invert(template, parsed)
        for location in inverted.ambiguous_slots:
            text = ".".join(str(step) for step in location)
            if text not in result.ambiguous.setdefault(item.name, []):
                result.ambiguous[item.name].append(text)
        normalized, synthetic = auto_body(inverted, item.name, digest or "")
    elif parsed.get("call_log_id"):
        normalized, synthetic = dict(parsed), False
    else:
        return None
    if trigger:
        section = normalized.setdefault("call_trigger_data", {})
        for key, value in trigger.items():
            section.setdefault(key, value)  # what the body says wins over the URL
    return normalized, synthetic


def _link(con: duckdb.DuckDBPyConnection, window: dict[str, Any], integration: str,
          trigger: dict[str, Any]) -> str | None:
    """A call received the same day through another integration with the same trigger key
    (LINK_KEYS order: crm_id, then phone_number, then person_name)."""
    for key in LINK_KEYS:
        value = trigger.get(key)
        if not isinstance(value, str):
            continue
        # The match is found in SQL: no copy of the day's deliveries per GET.
        found = con.execute(LINK_CANDIDATE, {**window, "key": key, "value": value,
                                             "integration": integration}).fetchone()
        if found:
            return str(found[0])
    return None
