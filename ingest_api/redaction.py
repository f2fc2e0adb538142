"""Keep secrets out of the landing data: header and query values that carry credentials."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlencode

import orjson

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"auth|token|secret|password|passwd|api[-_]?key|cookie|signature|session|credential",
    re.IGNORECASE,
)


def redact_headers(headers: Iterable[tuple[str, str]], token_header: str,
                   secrets: Sequence[str]) -> str:
    """Headers as a JSON object (lower-case names, repeated ones joined with ', ')."""
    token_header = token_header.lower()
    merged: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name == token_header or _SECRET_NAME.search(name) or _contains_secret(value, secrets):
            value = REDACTED
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return orjson.dumps(merged, option=orjson.OPT_SORT_KEYS).decode()


def redact_query(query: str) -> str:
    """The raw query string, unchanged unless a parameter name looks like a credential."""
    if not query or not _SECRET_NAME.search(query):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_SECRET_NAME.search(name) for name, _ in pairs):
        return query
    return urlencode([(name, REDACTED if _SECRET_NAME.search(name) else value)
                      for name, value in pairs])


def _contains_secret(value: str, secrets: Sequence[str]) -> bool:
    return any(secret in value for secret in secrets)
