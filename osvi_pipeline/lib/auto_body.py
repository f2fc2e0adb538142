"""Custom Template deliveries rewritten as the Auto body they stand for (pure logic)."""

from __future__ import annotations

import hashlib
from typing import Any

from osvi_pipeline.lib.templates import Inverted

CALL_INFO_FIELDS = ("phone_number", "agent_name", "call_status", "call_type")
SECTIONS = ("data_capture", "structured_output", "call_trigger_data")


def synthetic_call_id(integration: str, body_sha256: str) -> str:
    """Deterministic, so a manual retry of the same body collapses into the same call."""
    return "synthetic-" + hashlib.sha256(f"{integration}\n{body_sha256}".encode()).hexdigest()[:32]


def auto_body(inverted: Inverted, integration: str, body_sha256: str) -> tuple[dict[str, Any],
                                                                                bool]:
    """The Auto-mode body carrying what the template carried; and whether the id is synthetic."""
    sections = inverted.sections
    info = sections.get("call_info") if isinstance(sections.get("call_info"), dict) else {}
    call_log_id = info.get("call_log_id") if info else None
    synthetic = call_log_id in (None, "")
    body: dict[str, Any] = {
        "call_log_id": synthetic_call_id(integration, body_sha256) if synthetic
        else str(call_log_id)}
    body.update({key: info[key] for key in CALL_INFO_FIELDS if info and key in info})
    if isinstance(sections.get("call_summary"), str):
        body["call_summary"] = sections["call_summary"]
    body.update({key: sections[key] for key in SECTIONS if isinstance(sections.get(key), dict)})
    return body, synthetic
