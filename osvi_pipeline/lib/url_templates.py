"""OSVI URL templates (`/leads/{{crm_id}}/calls`) read back into call_trigger_data fields.

OSVI resolves `{{placeholder}}` in the integration URL from the call trigger data and leaves
an unresolved one as is, so a literal `{{crm_id}}` in the received path means "absent".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# When a GET/DELETE delivery must be linked to a call, these trigger keys are tried in order.
LINK_KEYS = ("crm_id", "phone_number", "person_name")


def url_fields(url_template: str, path: str, query: str | None) -> dict[str, Any] | None:
    """The placeholders' values (nested for dotted names), or None if the URL does not fit."""
    template_path, _, template_query = url_template.partition("?")
    found: dict[str, str] = {}
    names = _PLACEHOLDER.findall(template_path)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<p{index // 2}>[^/]*)"
        for index, part in enumerate(_PLACEHOLDER.split(template_path)))
    match = re.fullmatch(pattern.rstrip("/") + "/?", path)
    if match is None:
        return None
    for index, name in enumerate(names):
        found[name] = unquote(match[f"p{index}"])
    received = dict(parse_qsl(query or "", keep_blank_values=True))
    for key, value in parse_qsl(template_query, keep_blank_values=True):
        placeholder = _PLACEHOLDER.fullmatch(value)
        if placeholder and key in received:
            found[placeholder[1]] = received[key]
    fields: dict[str, Any] = {}
    for name, value in found.items():
        if _PLACEHOLDER.fullmatch(value) or value == "":
            continue  # unresolved by OSVI: absent
        target = fields
        *parents, leaf = name.removeprefix("call_trigger_data.").split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return fields
