"""Rate limits, slow bodies and signed deliveries (Standard Webhooks)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ingest_api.limits import RateLimiter
from ingest_api.signatures import sign_standard_webhook, verify_standard_webhook
from tests.support.config import AUTH, TOKEN, make_settings, running_app
from tests.support.landing import read_landing

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2, clock=lambda: now[0])
    assert [limiter.allow("crm") for _ in range(5)] == [True, True, True, True, False]
    assert limiter.allow("sheet"), "each integration has its own bucket"
    now[0] += 0.5  # one more token
    assert [limiter.allow("crm"), limiter.allow("crm")] == [True, False]
    assert RateLimiter(rate=0).allow("crm"), "0 turns the limit off"


def test_rate_limited_deliveries_get_429_and_are_not_stored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_integration=1)

    async def scenario() -> tuple[list[int], str | None, str]:
        async with running_app(settings) as (_, client):
            answers = [await client.post("/webhooks/crm", content=b"{}", headers=AUTH)
                       for _ in range(4)]
            other = await client.post("/webhooks/sheet", content=b"{}", headers=AUTH)
            metrics = (await client.get("/metrics")).text
            return ([a.status_code for a in answers] + [other.status_code],
                    answers[-1].headers.get("retry-after"), metrics)

    statuses, retry_after, metrics = asyncio.run(scenario())
    assert statuses == [200, 200, 429, 429, 200]
    assert retry_after == "1"
    assert len(read_landing(settings.layout.landing_dir)) == 3
    assert 'osvi_deliveries_total{integration="crm",status="429"} 2.0' in metrics
    assert TOKEN not in metrics


def test_a_body_that_never_finishes_gets_408(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, request_timeout_seconds=0.3)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"call_log_id": '
        await asyncio.sleep(5)
        yield b'"late"}'

    async def scenario() -> tuple[int, float]:
        async with running_app(settings) as (_, client):
            started = time.monotonic()
            response = await client.post("/webhooks/crm", content=trickle(), headers=AUTH)
            return response.status_code, time.monotonic() - started

    status, seconds = asyncio.run(scenario())
    assert status == 408 and seconds < 3
    assert len(read_landing(settings.layout.landing_dir)) == 0


def test_standard_webhooks_signatures() -> None:
    body, now = b'{"call_log_id": "s"}', 1_800_000_000
    good = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
            "webhook-signature": "v1,bogus " + sign_standard_webhook(SECRET, "msg_1", now, body)}
    assert verify_standard_webhook(SECRET, good, body, now=now) is None
    assert verify_standard_webhook(SECRET, good, body + b" ", now=now) == \
        "webhook-signature does not match"
    assert "replay window" in str(verify_standard_webhook(SECRET, good, body, now=now + 301))
    assert "missing" in str(verify_standard_webhook(SECRET, {}, body, now=now))


def test_signed_integration_refuses_unsigned_or_forged_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text("integrations:\n  - name: proxy\n    tokens: [\"proxy-token-123\"]\n"
                    f"    signing_secret: {SECRET}\n", encoding="utf-8")
    settings = make_settings(tmp_path, ingest_token=None, integrations=path)
    body = b'{"call_log_id": "signed"}'
    auth = {"Authorization": "Bearer proxy-token-123"}

    async def scenario() -> list[int]:
        async with running_app(settings) as (_, client):
            now = int(time.time())
            signed = {**auth, "webhook-id": "msg_9", "webhook-timestamp": str(now),
                      "webhook-signature": sign_standard_webhook(SECRET, "msg_9", now, body)}
            return [
                (await client.post("/webhooks/proxy", content=body, headers=signed)).status_code,
                (await client.post("/webhooks/proxy", content=body, headers=auth)).status_code,
                (await client.post("/webhooks/proxy", content=body + b" ",
                                   headers=signed)).status_code,
            ]

    assert asyncio.run(scenario()) == [200, 401, 401]
    rows = read_landing(settings.layout.landing_dir).to_pylist()
    assert [row["call_log_id"] for row in rows] == ["signed"]
    assert "proxy-token-123" not in str(rows) and SECRET not in str(rows)
