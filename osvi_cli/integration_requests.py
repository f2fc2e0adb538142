"""What OSVI would send to an integration for a call: body, URL and headers (like the
dashboard's Test button), shared by `osvi integrations test` and `osvi simulate`."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson

from osvi_core.integrations import Integration
from osvi_pipeline.lib.templates import render_template, render_url

# OSVI's sample payload (its webhook page), what the Test button sends; the tests use it too.
SAMPLE_AUTO_BODY: dict[str, Any] = orjson.loads(
    files("osvi_cli").joinpath("osvi_sample.json").read_bytes())
CALL_INFO = ("call_log_id", "phone_number", "agent_name", "call_status", "call_type")


def template_sources(auto_body: dict[str, Any]) -> dict[str, Any]:
    """An Auto body as the expression sources a Custom Template sees."""
    sources: dict[str, Any] = {key: auto_body[key] for key in ("call_summary", "data_capture",
                                               "structured_output", "call_trigger_data")
               if key in auto_body}
    sources["call_info"] = {key: auto_body[key] for key in CALL_INFO if key in auto_body}
    return sources


def request_for(integration: Integration, token: str, auto_body: dict[str, Any],
                base_url: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, url, headers, body) for this call through this integration."""
    method, suffix, headers, body = request_parts(integration, token, auto_body)
    base = base_url.rstrip("/")
    url = (base if "/webhooks/" in base else f"{base}/webhooks/{integration.name}") + suffix
    return method, url, headers, body


def request_parts(integration: Integration, token: str, auto_body: dict[str, Any],
                  execution_mode: str = "test") -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, path after /webhooks/<name>, headers, body). Call-status reports say
    `execution_mode` ("test" like OSVI's Test button, "prod" for simulated traffic)."""
    trigger = auto_body.get("call_trigger_data", {})
    suffix = render_url(integration.url_template, trigger) if integration.url_template else ""
    value = f"Bearer {token}" if integration.header.lower() == "authorization" else token
    headers = {integration.header: value, "Content-Type": "application/json"}
    if integration.mode == "template" and integration.template:
        body = orjson.dumps(render_template(integration.template, template_sources(auto_body)))
    elif integration.mode == "call_status":
        body = orjson.dumps({"call_log_id": auto_body["call_log_id"],
                             "agent_name": auto_body.get("agent_name"),
                             "agent_uuid": "sample-agent-uuid",
                             "phone_number": auto_body.get("phone_number"),
                             "call_status": auto_body.get("call_status", "picked"),
                             "executionMode": execution_mode,
                             "chat": [{"role": "agent", "content": "Hello!"}]})
    else:
        body = orjson.dumps(auto_body)
    return "POST", suffix, headers, body
