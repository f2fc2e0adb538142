"""Pure helpers of the ingest path: body classification and secret redaction."""

from __future__ import annotations

import orjson
import pytest

from ingest_api.redaction import redact_headers, redact_query
from osvi_core.body import inspect_body


@pytest.mark.parametrize(
    ("raw", "method", "error"),
    [
        (b'{"call_log_id": "a"}', "POST", None),
        (b"", "GET", None),
        (b"", "POST", "empty body: expected a JSON object"),
        (b"null", "POST", "expected a JSON object, got null"),
        (b"3.5", "PUT", "expected a JSON object, got a number"),
        (b'{"a": 1} x', "POST", "body is not valid JSON: "),
        (b'"\\ud800"', "POST", None),  # a lone surrogate: checked below, never a crash
        (b"[" * 5000 + b"]" * 5000, "POST", "body is not valid JSON: "),
    ],
)
def test_inspect_body(raw: bytes, method: str, error: str | None) -> None:
    inspected = inspect_body(raw, method)
    if raw == b'"\\ud800"':
        assert inspected.parse_error is not None
        return
    if error is None:
        assert inspected.parse_error is None
    else:
        assert inspected.parse_error is not None and inspected.parse_error.startswith(error)
    assert inspected.text == (raw.decode() if raw else None)


def test_call_log_id_is_taken_only_from_a_usable_value() -> None:
    assert inspect_body(b'{"call_log_id": 42}', "POST").call_log_id == "42"
    assert inspect_body(b'{"call_log_id": ""}', "POST").call_log_id is None
    assert inspect_body(b'{"call_log_id": {"x": 1}}', "POST").call_log_id is None
    assert inspect_body(b'{"call_log_id": true}', "POST").call_log_id is None


def test_headers_redaction() -> None:
    headers = [("Authorization", "Bearer s3cret-token"), ("X-Api-Key", "k"),
               ("X-Custom", "carries s3cret-token inside"), ("Accept", "a"), ("Accept", "b"),
               ("X-Osvi-Key", "bare")]
    redacted = orjson.loads(redact_headers(headers, "X-Osvi-Key", ["s3cret-token"]))
    assert redacted == {"authorization": "[redacted]", "x-api-key": "[redacted]",
                        "x-custom": "[redacted]", "accept": "a, b", "x-osvi-key": "[redacted]"}


def test_query_redaction_keeps_data_parameters() -> None:
    assert redact_query("crm_id=lead_42&status=picked") == "crm_id=lead_42&status=picked"
    assert redact_query("crm_id=7&access_token=abc") == "crm_id=7&access_token=%5Bredacted%5D"
    assert redact_query("") == ""
