"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature), for
integrations with a `signing_secret` (pure logic)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

REPLAY_WINDOW_SECONDS = 300


def verify_standard_webhook(secret: str, headers: Mapping[str, str], body: bytes,
                            now: float | None = None) -> str | None:
    """None when the Standard Webhooks signature checks out, else what is wrong.

    Signature: base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")), sent as
    space-separated `v1,<signature>` entries; the key is the base64 after `whsec_`.
    """
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not timestamp or not signatures:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    if not timestamp.isdigit():
        return "webhook-timestamp is not a Unix time in seconds"
    if abs((now if now is not None else time.time()) - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return f"webhook-timestamp is outside the {REPLAY_WINDOW_SECONDS} s replay window"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    matched = False
    for entry in signatures.split():
        version, _, candidate = entry.partition(",")
        if version == "v1":
            matched |= hmac.compare_digest(candidate.encode(), expected)
    return None if matched else "webhook-signature does not match"


def sign_standard_webhook(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value a signing sender would put (tests, tooling)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
