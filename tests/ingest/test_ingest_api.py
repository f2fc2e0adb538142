"""The ingest API in-process (httpx over ASGI, real landing files in temp dirs)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import duckdb
import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from osvi_core.landing import LANDING_SCHEMA
from osvi_core.settings import Settings
from tests.support.config import AUTH, TOKEN, make_settings, running_app, sample_payload_bytes
from tests.support.landing import read_landing


def landed(settings: Settings) -> list[dict[str, object]]:
    return read_landing(settings.layout.landing_dir).to_pylist()


def landing_files(settings: Settings) -> list[Path]:
    return sorted(settings.layout.landing_dir.glob("received_date=*/*.parquet"))


def test_sample_payload_lands_byte_for_byte(settings: Settings) -> None:
    payload = sample_payload_bytes()

    async def scenario() -> dict[str, object]:
        async with running_app(settings) as (_, client):
            response = await client.post("/webhooks/crm", content=payload,
                                         headers={**AUTH, "Content-Type": "application/json"})
            assert response.status_code == 200, response.text
            return dict(response.json())

    answer = asyncio.run(scenario())
    assert answer["status"] == "stored"
    [row] = landed(settings)
    assert row["delivery_id"] == answer["delivery_id"]
    assert isinstance(row["body"], str) and row["body"].encode("utf-8") == payload
    assert row["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert row["call_log_id"] == "8de63236-e013-42dd-9d99-1be5521701d4"
    assert row["parse_error"] is None and row["body_base64"] is None
    assert (row["integration"], row["method"], row["path"]) == ("crm", "POST", "/webhooks/crm")
    [file] = landing_files(settings)
    received = row["received_at"]
    assert file.parent.name == f"received_date={received:%Y-%m-%d}"  # type: ignore[str-format]
    assert not list(settings.layout.landing_dir.glob("_journal/*.journal")), "published at shutdown"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_body_methods_are_stored(settings: Settings, method: str) -> None:
    async def scenario() -> int:
        async with running_app(settings) as (_, client):
            response = await client.request(method, "/webhooks/crm/extra/path",
                                            content=b'{"call_log_id": "c-1"}', headers=AUTH)
            return response.status_code

    assert asyncio.run(scenario()) == 200
    [row] = landed(settings)
    assert (row["method"], row["path"], row["call_log_id"]) == (
        method, "/webhooks/crm/extra/path", "c-1")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_bodyless_methods_store_path_and_query(settings: Settings, method: str) -> None:
    async def scenario() -> int:
        async with running_app(settings) as (_, client):
            # OSVI leaves an unresolved placeholder in the URL literally.
            response = await client.request(
                method, "/webhooks/crm/leads/{{crm_id}}/calls?status=picked&lead=lead_42",
                headers=AUTH)
            return response.status_code

    assert asyncio.run(scenario()) == 200
    [row] = landed(settings)
    assert row["path"] == "/webhooks/crm/leads/{{crm_id}}/calls"
    assert row["query"] == "status=picked&lead=lead_42"
    assert row["body"] is None and row["parse_error"] is None and row["body_sha256"] is None


def test_token_forms_and_rejections(settings: Settings) -> None:
    async def scenario() -> list[int]:
        async with running_app(settings) as (_, client):
            body = b'{"call_log_id": "x"}'
            return [
                (await client.post("/webhooks/crm", content=body, headers=AUTH)).status_code,
                (await client.post("/webhooks/crm", content=body,
                                   headers={"Authorization": TOKEN})).status_code,
                (await client.post("/webhooks/crm", content=body,
                                   headers={"Authorization": "bearer " + TOKEN})).status_code,
                (await client.post("/webhooks/crm", content=body)).status_code,
                (await client.post("/webhooks/crm", content=body,
                                   headers={"Authorization": "Bearer wrong-token"})).status_code,
                (await client.post("/webhooks/crm", content=body,
                                   headers={"Authorization": "Bearer " + TOKEN[:-1]})).status_code,
                (await client.post("/webhooks/bad%20name", content=body,
                                   headers=AUTH)).status_code,
            ]

    assert asyncio.run(scenario()) == [200, 200, 200, 401, 401, 401, 404]
    assert len(landed(settings)) == 3


def _write_integrations(path: Path) -> Path:
    path.write_text(
        "integrations:\n"
        "  - name: crm\n"
        "    mode: auto\n"
        '    tokens: ["crm-token-old", "crm-token-new"]\n'
        "  - name: sheet\n"
        "    mode: auto\n"
        '    tokens: ["sheet-token-1"]\n'
        "    header: X-Osvi-Key\n",
        encoding="utf-8",
    )
    return path


def test_integrations_file_tokens_rotation_and_headers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ingest_token=None,
                             integrations=_write_integrations(tmp_path / "integrations.yaml"))
    body = b'{"call_log_id": "x"}'

    async def scenario() -> list[int]:
        async with running_app(settings) as (_, client):
            async def post(name: str, headers: dict[str, str]) -> int:
                return (await client.post(f"/webhooks/{name}", content=body,
                                          headers=headers)).status_code
            return [
                await post("crm", {"Authorization": "Bearer crm-token-old"}),
                await post("crm", {"Authorization": "crm-token-new"}),
                await post("crm", {"Authorization": "Bearer sheet-token-1"}),
                await post("sheet", {"X-Osvi-Key": "sheet-token-1"}),
                await post("sheet", {"Authorization": "Bearer sheet-token-1"}),
                await post("other", {"Authorization": "Bearer crm-token-old"}),
            ]

    assert asyncio.run(scenario()) == [200, 200, 401, 200, 401, 404]
    rows = landed(settings)
    assert sorted(str(row["integration"]) for row in rows) == ["crm", "crm", "sheet"]
    sheet = next(row for row in rows if row["integration"] == "sheet")
    assert orjson.loads(str(sheet["headers"]))["x-osvi-key"] == "[redacted]"
    assert not settings.layout.token_file.exists(), "no default token when a file is used"


@pytest.mark.parametrize(
    ("body", "expected_error"),
    [
        (b"[1, 2]", "expected a JSON object, got a list"),
        (b'"hello"', "expected a JSON object, got a string"),
        (b'{"call_log_id": "x",', "body is not valid JSON"),
        (b'{"a": NaN}', "body is not valid JSON"),
        (b"", "empty body: expected a JSON object"),
    ],
)
def test_not_an_object_is_400_and_still_stored(settings: Settings, body: bytes,
                                               expected_error: str) -> None:
    async def scenario() -> dict[str, object]:
        async with running_app(settings) as (_, client):
            response = await client.post("/webhooks/crm", content=body, headers=AUTH)
            assert response.status_code == 400
            return dict(response.json())

    answer = asyncio.run(scenario())
    assert str(answer["error"]).startswith(expected_error)
    [row] = landed(settings)
    assert row["delivery_id"] == answer["delivery_id"]
    assert row["parse_error"] == answer["error"]
    assert (row["body"] or "").encode() == body


def test_syntax_error_names_its_position(settings: Settings) -> None:
    async def scenario() -> str:
        async with running_app(settings) as (_, client):
            response = await client.post("/webhooks/crm", content=b'{\n  "a": tru\n}',
                                         headers=AUTH)
            return str(response.json()["error"])

    error = asyncio.run(scenario())
    assert "line 2" in error and "column" in error


def test_invalid_utf8_is_kept_exactly(settings: Settings) -> None:
    raw = b'{"name": "\xff\xfe caf\xc3"}'

    async def scenario() -> int:
        async with running_app(settings) as (_, client):
            return (await client.post("/webhooks/crm", content=raw, headers=AUTH)).status_code

    assert asyncio.run(scenario()) == 400
    [row] = landed(settings)
    import base64

    assert base64.b64decode(str(row["body_base64"])) == raw
    assert "not valid UTF-8 (byte 10)" in str(row["parse_error"])
    assert row["body_sha256"] == hashlib.sha256(raw).hexdigest()


def test_body_over_limit_is_413_by_length_and_by_stream(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_body_bytes=1000)
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for index in range(10_000):  # 640 MB if the server kept reading
            pulled.append(index)
            yield b"x" * 65_536

    async def scenario() -> list[int]:
        async with running_app(settings) as (_, client):
            declared = await client.post("/webhooks/crm", content=b"{" + b" " * 2000 + b"}",
                                         headers=AUTH)
            chunked = await client.post("/webhooks/crm", content=endless(), headers=AUTH)
            exact = await client.post("/webhooks/crm", content=b"{" + b" " * 998 + b"}",
                                      headers=AUTH)
            return [declared.status_code, chunked.status_code, exact.status_code]

    assert asyncio.run(scenario()) == [413, 413, 200]
    assert len(pulled) < 5, "the oversized stream must not be read to its end"
    assert len(landed(settings)) == 1


def test_headers_over_the_configured_limit_are_431_and_not_stored(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_header_bytes=2048)

    async def scenario() -> list[httpx.Response]:
        async with running_app(settings) as (_, client):
            return [await client.post("/webhooks/crm", content=b"{}",
                                      headers={**AUTH, "X-Padding": "p" * size})
                    for size in (3000, 1000)]

    too_big, fits = asyncio.run(scenario())
    assert too_big.status_code == 431
    assert "OSVI_MAX_HEADER_BYTES (2048)" in too_big.json()["error"]
    assert fits.status_code == 200
    assert len(landed(settings)) == 1


def test_group_commit_shares_files_and_acks_every_row(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, batch_max_wait_ms=20.0, batch_max_rows=64)

    async def scenario() -> tuple[list[str], str]:
        async with running_app(settings) as (_, client):
            responses = await asyncio.gather(*(
                client.post("/webhooks/crm", content=orjson.dumps({"call_log_id": f"c{i}"}),
                            headers=AUTH) for i in range(100)))
            assert {response.status_code for response in responses} == {200}
            metrics = (await client.get("/metrics")).text
            return [str(response.json()["delivery_id"]) for response in responses], metrics

    acked, metrics = asyncio.run(scenario())
    rows = landed(settings)
    assert sorted(str(row["delivery_id"]) for row in rows) == sorted(acked)
    commits = float(re.search(r"^osvi_commit_batch_rows_count (\S+)$", metrics, re.M)[1])  # type: ignore[index]
    assert commits < 20, f"{commits} fsyncs for 100 concurrent deliveries"
    assert len(landing_files(settings)) == 1, "one segment, one landing file"


def test_every_file_has_the_same_explicit_schema(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, journal_segment_rows=1)  # one landing file per delivery

    async def scenario() -> None:
        async with running_app(settings) as (_, client):
            await client.get("/webhooks/crm/leads/1", headers=AUTH)  # all-null body columns
            await client.post("/webhooks/crm", content=b"[]", headers=AUTH)
            await client.post("/webhooks/crm", content=b'{"call_log_id": "a"}', headers=AUTH)

    asyncio.run(scenario())
    files = landing_files(settings)
    assert len(files) == 3
    for file in files:
        assert pq.read_schema(file).remove_metadata() == LANDING_SCHEMA.remove_metadata()
    union = duckdb.sql(
        f"select count(*), count(body), count(call_log_id) from read_parquet("
        f"'{settings.layout.landing_dir}/*/*.parquet', hive_partitioning = true)").fetchall()
    assert union == [(3, 2, 1)]


def test_secrets_never_reach_landing_or_logs(settings: Settings,
                                             caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO, logger="osvi")

    async def scenario() -> None:
        async with running_app(settings) as (_, client):
            await client.post("/webhooks/crm?api_key=abc123secret&campaign=x",
                              content=b'{"call_log_id": "a"}',
                              headers={**AUTH, "X-Forwarded-Token": TOKEN, "Cookie": "s=1"})
            await client.post("/webhooks/crm", content=b"{}", headers={"Authorization": TOKEN})

    asyncio.run(scenario())
    rows = landed(settings)
    assert len(rows) == 2
    delivery_log = capsys.readouterr().err
    everything = orjson.dumps(rows, default=str).decode() + caplog.text + delivery_log
    assert TOKEN not in everything
    assert "abc123secret" not in everything
    headers = orjson.loads(str(rows[0]["headers"]))
    assert headers["authorization"] == headers["x-forwarded-token"] == "[redacted]"
    assert "campaign=x" in str(rows[0]["query"])
    lines = [orjson.loads(line) for line in delivery_log.splitlines() if '"delivery"' in line]
    assert [line["status"] for line in lines] == [200, 200]
    assert {line["delivery_id"] for line in lines} == {row["delivery_id"] for row in rows}
    assert {"integration", "method", "bytes", "latency_ms"} <= set(lines[0])
    assert "call_log_id" not in delivery_log + caplog.text, "bodies are never logged"


async def _wait_ready(client: httpx.AsyncClient, ready: bool, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while ((await client.get("/readyz")).status_code == 200) != ready:
        assert time.monotonic() < deadline, f"readyz never became {'ready' if ready else 503}"
        await asyncio.sleep(0.05)


def test_unwritable_landing_gives_503_and_recovers(tmp_path: Path) -> None:
    """A real filesystem failure: the day's partition path is a file, so landing cannot be
    written. Deliveries get 503 until it is repaired; none acknowledged is lost."""
    settings = make_settings(tmp_path, journal_segment_seconds=0.05)

    async def scenario() -> tuple[set[str], list[int], str | None]:
        async with running_app(settings) as (_, client):
            acked: set[str] = set()
            first = await client.post("/webhooks/crm", content=b'{"call_log_id": "ok-1"}',
                                      headers=AUTH)
            acked.add(first.json()["delivery_id"])
            await _wait_for(lambda: bool(landing_files(settings)))
            partition = landing_files(settings)[0].parent
            partition.rename(partition.with_name("moved-away"))
            partition.write_text("not a directory")
            # At most the deliveries of the next segment are journaled before compaction fails.
            second = await client.post("/webhooks/crm", content=b'{"call_log_id": "ok-2"}',
                                       headers=AUTH)
            acked.add(second.json()["delivery_id"])
            await _wait_ready(client, ready=False)
            refused = await asyncio.gather(*(
                client.post("/webhooks/crm", content=b'{"call_log_id": "refused"}',
                            headers=AUTH) for _ in range(5)))
            partition.unlink()
            partition.with_name("moved-away").rename(partition)
            await _wait_ready(client, ready=True)
            again = await client.post("/webhooks/crm", content=b'{"call_log_id": "ok-3"}',
                                      headers=AUTH)
            acked.add(again.json()["delivery_id"])
            statuses = [first.status_code, second.status_code,
                        *(r.status_code for r in refused), again.status_code]
            return acked, statuses, refused[0].headers.get("retry-after")

    acked, statuses, retry_after = asyncio.run(scenario())
    assert statuses == [200, 200, 503, 503, 503, 503, 503, 200]
    assert retry_after == str(settings.retry_after_seconds)
    rows = landed(settings)
    assert {str(row["delivery_id"]) for row in rows} == acked
    assert sorted(str(row["call_log_id"]) for row in rows) == ["ok-1", "ok-2", "ok-3"]


async def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_abandoned_temp_files_are_quarantined_on_start(settings: Settings) -> None:
    partition = settings.layout.landing_dir / "received_date=2026-01-01"
    partition.mkdir(parents=True)
    dead = partition / ".999999999-0123abcd.parquet.tmp"
    dead.write_bytes(b"PAR1 half written")
    alive = partition / f".{os.getppid()}-4567abcd.parquet.tmp"  # another live process's write
    alive.write_bytes(b"PAR1 in progress")

    async def scenario() -> None:
        async with running_app(settings):
            pass

    asyncio.run(scenario())
    assert not dead.exists() and alive.exists()
    quarantined = list((settings.layout.quarantine_dir / "landing-temp").glob("*.tmp"))
    assert [path.read_bytes() for path in quarantined] == [b"PAR1 half written"]
    reason = quarantined[0].with_name(quarantined[0].name + ".reason.txt").read_text()
    assert reason.startswith("abandoned temp file")


def test_health_readiness_and_metrics(settings: Settings) -> None:
    async def scenario() -> tuple[int, int, str]:
        async with running_app(settings) as (_, client):
            await client.post("/webhooks/crm", content=b'{"call_log_id": "m"}', headers=AUTH)
            await client.post("/webhooks/crm", content=b"{}")
            health = (await client.get("/healthz")).status_code
            ready = (await client.get("/readyz")).status_code
            metrics = (await client.get("/metrics")).text
            return health, ready, metrics

    health, ready, metrics = asyncio.run(scenario())
    assert (health, ready) == (200, 200)
    assert 'osvi_deliveries_total{integration="crm",status="200"} 1.0' in metrics
    assert 'osvi_deliveries_total{integration="(rejected)",status="401"} 1.0' in metrics
    for name in ("osvi_commit_batch_rows_bucket", "osvi_commit_seconds_bucket",
                 "osvi_delivery_seconds_bucket", "osvi_commit_queue_depth"):
        assert name in metrics


def test_openapi_documents_the_delivery_routes(settings: Settings) -> None:
    async def scenario() -> dict[str, object]:
        async with running_app(settings) as (_, client):
            return dict((await client.get("/openapi.json")).json())

    paths = asyncio.run(scenario())["paths"]
    assert isinstance(paths, dict)
    assert set(paths["/webhooks/{integration}"]) == {"post", "put", "patch", "get", "delete"}
    assert "/webhooks/{integration}/{path}" in paths
