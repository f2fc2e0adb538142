"""A Custom Template with every kind of slot, and rendering as OSVI would."""

from __future__ import annotations

from typing import Any

from osvi_pipeline.lib.templates import render_template

TEMPLATE = """{
  "id": "{{call_info.call_log_id}}",
  "who": "{{call_trigger_data.person_name}}",
  "intent": "{{structured_output.intent}}",
  "slot_date": "{{structured_output.appointment.date}}",
  "confirmed": "{{data_capture.appointment_confirmed}}",
  "note": "Agent {{call_info.agent_name}} says: {{call_summary}}",
  "source": "osvi"
}"""


def render(template: str, call: dict[str, Any]) -> dict[str, Any]:
    rendered = render_template(template, call)
    assert isinstance(rendered, dict)
    return rendered
