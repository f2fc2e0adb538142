"""What the ingest API learns from a request body before storing it (pure, no I/O)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import orjson

BODYLESS_METHODS = frozenset({"GET", "DELETE"})
_TYPE_NAMES = {list: "a list", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


@dataclass(frozen=True, slots=True)
class InspectedBody:
    text: str | None  # the exact text received (None when there is no body)
    base64: str | None  # the raw bytes, only when they are not valid UTF-8
    sha256: str | None
    call_log_id: str | None
    parse_error: str | None  # None when the body is a JSON object (or absent where allowed)


def inspect_body(raw: bytes, method: str) -> InspectedBody:
    """Classify a body: a JSON object is accepted; anything else is kept with a parse error."""
    if not raw:
        error = None if method in BODYLESS_METHODS else "empty body: expected a JSON object"
        return InspectedBody(None, None, None, None, error)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InspectedBody(
            raw.decode("utf-8", errors="replace"),
            base64.b64encode(raw).decode("ascii"),
            digest,
            None,
            f"body is not valid UTF-8 (byte {exc.start}); raw bytes kept in body_base64",
        )
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return InspectedBody(text, None, digest, None, f"body is not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        kind = _TYPE_NAMES.get(type(parsed), type(parsed).__name__)
        return InspectedBody(text, None, digest, None, f"expected a JSON object, got {kind}")
    return InspectedBody(text, None, digest, _call_log_id(parsed), None)


def _call_log_id(payload: dict[str, object]) -> str | None:
    value = payload.get("call_log_id")
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
