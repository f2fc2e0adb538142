"""OSVI URL templates (`/leads/{{crm_id}}/calls`) read back into call_trigger_data fields.

OSVI resolves `{{placeholder}}` in the integration URL from the call trigger data and leaves
an unresolved one as is, so a literal `{{crm_id}}` in the received path means "absent".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from osvi_core.dotted import set_dotted
from osvi_core.integrations import PLACEHOLDER_RE

# When a GET/DELETE delivery must be linked to a call, these trigger keys are tried in order.
LINK_KEYS = ("crm_id", "phone_number", "person_name")


def url_fields(url_template: str, path: str, query: str | None) -> dict[str, Any] | None:
    """The placeholders' values (nested for dotted names), or None if the URL does not fit."""
    template_path, _, template_query = url_template.partition("?")
    found: dict[str, str] = {}
    names = PLACEHOLDER_RE.findall(template_path)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<p{index // 2}>[^/]*)"
        for index, part in enumerate(PLACEHOLDER_RE.split(template_path)))
    match = re.fullmatch(pattern.rstrip("/") + "/?", path)
    if match is None:
        return None
    for index, name in enumerate(names):
        found[name] = unquote(match[f"p{index}"])
    received = dict(parse_qsl(query or "", keep_blank_values=True))
    for key, value in parse_qsl(template_query, keep_blank_values=True):
        placeholder = PLACEHOLDER_RE.fullmatch(value)
        if placeholder and key in received:
            found[placeholder[1]] = received[key]
    fields: dict[str, Any] = {}
    for name, value in found.items():
        if PLACEHOLDER_RE.fullmatch(value) or value == "":
            continue  # unresolved by OSVI: absent
        set_dotted(fields, name.removeprefix("call_trigger_data."), value)
    return fields
