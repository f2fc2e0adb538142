"""Bad input never gets a 5xx or a crash: schemathesis from the OpenAPI schema, and a corpus of
hostile requests, both against the real `osvi serve` process on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from osvi_testkit.processes import ServerProcess, free_port
from tests.support.landing import read_landing

TOKEN = "fuzz-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = Path(tmp_path_factory.mktemp("fuzz"))
    process = ServerProcess(tmp / "data", free_port(), TOKEN, tmp / "serve.log",
                            {"OSVI_MAX_BODY_BYTES": "65536"})
    process.start()
    yield process
    process.kill(15)
    log = (tmp / "serve.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def _schema(server: ServerProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_schemathesis_finds_no_server_error(server: ServerProcess) -> None:
    schema = _schema(server)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13, "every delivery method, both routes, and the operations"
    cases = st.one_of([operation.as_strategy() for operation in operations])

    @given(case=cases)
    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers=AUTH, timeout=10)
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500

    check()


def _raw(server: ServerProcess, request: bytes) -> bytes:
    """Send bytes as they are (no client library tidying them up); return the status line."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).split(b"\r\n", 1)[0]


def _post(server: ServerProcess, body: bytes, headers: dict[str, str] | None = None,
          path: str = "/webhooks/crm") -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, headers={**AUTH, **(headers or {})},
                      timeout=30)


CORPUS: dict[str, bytes] = {
    "truncated": b'{"call_log_id": "x", "data_capture": {"a": ',
    "deep nesting": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "100k keys": b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(100_000))[:65_000] + b"}",
    "duplicate keys": b'{"call_log_id": "a", "call_log_id": "b"}',
    "NaN": b'{"call_log_id": "x", "score": NaN}',
    "Infinity": b'{"call_log_id": "x", "score": Infinity}',
    "invalid UTF-8": b'{"call_log_id": "\xff\xfe"}',
    "lone surrogate": b'{"call_log_id": "\\ud800"}',
    "top-level array": b"[1, 2, 3]",
    "top-level string": b'"hello"',
    "empty": b"",
    "NUL bytes": b'{"a": "\x00"}',
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_bodies_are_stored_or_refused_cleanly(server: ServerProcess, name: str) -> None:
    response = _post(server, CORPUS[name])
    assert response.status_code in (200, 400, 413), response.text
    answer = response.json()
    if response.status_code in (200, 400):
        assert answer["delivery_id"]
    if response.status_code == 400:
        assert answer["error"]


def test_hostile_requests(server: ServerProcess) -> None:
    assert _post(server, b"{}", {"Content-Type": "text/plain"}).status_code == 200
    assert httpx.get(f"{server.url}/webhooks/crm", headers=AUTH, timeout=10).status_code == 200
    body_on_get = httpx.request("GET", f"{server.url}/webhooks/crm", content=b"[1]",
                                headers=AUTH, timeout=10)
    assert body_on_get.status_code == 400
    chunked_over_limit = httpx.post(f"{server.url}/webhooks/crm", headers=AUTH, timeout=30,
                                    content=iter([b"{" + b" " * 40_000] * 4))
    assert chunked_over_limit.status_code == 413
    long_path = "/webhooks/crm/" + "a" * 20_000
    assert httpx.post(f"{server.url}{long_path}", content=b"{}", headers=AUTH,
                      timeout=10).status_code in (200, 400, 414, 431)
    huge_header = {"X-Padding": "p" * 100_000}
    assert _post(server, b"{}", huge_header).status_code == 431  # OSVI_MAX_HEADER_BYTES
    for name in ("..", "%2e%2e", "ünïcode", "a" * 200, "%00"):
        assert _post(server, b"{}", path=f"/webhooks/{name}").status_code == 404
    # %2F decodes to a path separator: integration "a", sub-path "b", a valid delivery.
    assert _post(server, b"{}", path="/webhooks/a%2Fb").status_code == 200
    assert _raw(server, b"POST /webhooks/crm HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n{}")[:12] in (
        b"HTTP/1.1 400", b"HTTP/1.1 200", b"")  # truncated body: never a 5xx
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_every_stored_bad_body_is_kept_exactly(server: ServerProcess) -> None:
    for body in (CORPUS["invalid UTF-8"], CORPUS["lone surrogate"], CORPUS["NaN"]):
        assert _post(server, body).status_code == 400
    server.kill(15)
    server.start()
    rows = read_landing(server.data_dir / "landing").to_pylist()
    kept = {row["body_sha256"] for row in rows}
    import hashlib

    for body in (CORPUS["invalid UTF-8"], CORPUS["lone surrogate"], CORPUS["NaN"]):
        assert hashlib.sha256(body).hexdigest() in kept
    assert all(orjson.loads(str(row["headers"])).get("authorization") in (None, "[redacted]")
               for row in rows)
