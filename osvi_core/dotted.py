"""Dotted paths into nested JSON objects (`call_info.received_at`, `appointment.date`)."""

from __future__ import annotations

from typing import Any


def get_dotted(document: Any, dotted: str) -> Any:
    """The value at `dotted`, or None where a key is missing or a step is not an object."""
    node = document
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def set_dotted(document: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `dotted` to `value`, creating the objects on the way."""
    *parents, leaf = dotted.split(".")
    for key in parents:
        document = document.setdefault(key, {})
    document[leaf] = value
