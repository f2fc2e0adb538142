"""The app that receives OSVI webhook deliveries and lands them durably.

Every answer follows docs/ingest.md, "What the endpoint answers": 200 only after the delivery is
on disk, 400 for a body that is not a JSON object (stored anyway), 401/404/413 before anything
is stored, 503 with Retry-After when it cannot be stored right now.

FastAPI serves the operations endpoints and the OpenAPI docs. The delivery routes are a plain
ASGI endpoint on the same router: FastAPI's per-request dependency machinery costs about four
times the rest of the request (measured in docs/benchmarks.md), and this path has nothing to
validate that a JSON parser would not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ingest_api.auth import AuthOutcome, TokenAuthority, build_authority
from ingest_api.committer import CommitStats, GroupCommitter, StoreUnavailable
from ingest_api.delivery_log import DeliveryLog
from ingest_api.journal import CompactorProcess, DurableLanding, journal_backlog
from ingest_api.limits import RateLimiter
from ingest_api.metrics import IngestMetrics
from ingest_api.openapi import DELIVERY_PATHS
from ingest_api.redaction import redact_headers, redact_query
from ingest_api.signatures import verify_standard_webhook
from osvi_core.body import inspect_body
from osvi_core.landing import (
    LandingRow,
    encode_parquet,
    probe_writable,
    quarantine_abandoned_temp_files,
)
from osvi_core.landing_store import PublishError, landing_store_for, replica_name
from osvi_core.settings import READY_BACKLOG_SHARE, Settings, load_settings
from osvi_core.version import package_version

log = logging.getLogger("osvi.ingest")

DELIVERY_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
DELIVERY_ROUTES = ("/webhooks/{integration}", "/webhooks/{integration}/{path:path}")


class BodyTooLarge(Exception):
    pass


class _Answer:
    __slots__ = ("delivery_id", "headers", "payload", "status")

    def __init__(self, status: int, payload: Mapping[str, Any], delivery_id: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status, self.payload, self.delivery_id = status, payload, delivery_id
        self.headers = headers or {}


class DeliveryEndpoint:
    """ASGI endpoint for `/webhooks/{integration}[/{path}]`, sharing one group committer."""

    def __init__(self, settings: Settings, authority: TokenAuthority,
                 metrics: IngestMetrics) -> None:
        self.settings = settings
        self.authority = authority
        self.metrics = metrics
        self.store = landing_store_for(settings)
        self.landing = DurableLanding(settings.layout.journal_dir, self.store,
                                      replica=replica_name(settings.layout.replica_id_file,
                                                           settings.replica_id),
                                      segment_rows=settings.journal_segment_rows,
                                      segment_seconds=settings.segment_seconds)
        self.backlog_bytes = 0  # refreshed by the publisher loop
        self.secrets = authority.all_tokens()
        self.committer: GroupCommitter | None = None
        self.deliveries = DeliveryLog(enabled=settings.delivery_log)
        self.rate_limiter = RateLimiter(settings.rate_limit_per_integration)
        self._compactor = CompactorProcess()
        self._background: list[asyncio.Task[None]] = []
        self._retry_after = {"Retry-After": str(settings.retry_after_seconds)}

    async def start(self) -> None:
        if not self.store.remote:
            quarantine_abandoned_temp_files(self.settings.layout.landing_dir,
                                            self.settings.layout.quarantine_dir)
            self.settings.layout.landing_dir.mkdir(parents=True, exist_ok=True)
        try:  # what a crashed or killed run acknowledged, published before serving
            await asyncio.to_thread(self.landing.recover)
        except PublishError as exc:
            if not self.store.remote:
                raise OSError(str(exc)) from None
            # The journal keeps them; the publisher sends them first when the store is back.
            log.error("could not publish the journal's deliveries to %s yet (retrying in the "
                      "background): %s", self.store.location, exc)
        await asyncio.to_thread(encode_parquet, [])  # Arrow's one-off set-up, not on a request
        stats = CommitStats(
            on_batch=self.metrics.record_batch,
            on_depth=self.metrics.queue_depth.set,
            on_failure=self.metrics.write_failures.inc,
        )
        self.committer = GroupCommitter(
            self.landing.append,
            max_rows=self.settings.batch_max_rows,
            max_wait=self.settings.batch_max_wait_ms / 1000,
            max_queue=self.settings.queue_max,
            stats=stats,
        )
        self.committer.start()
        self._background = [asyncio.create_task(self._compact_forever(), name="compactor"),
                            asyncio.create_task(self.deliveries.run(), name="delivery-log")]

    async def stop(self) -> None:
        if self.committer is not None:
            await self.committer.close()
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await asyncio.to_thread(self.landing.drain)
        except (OSError, PublishError) as exc:  # the journal keeps them; the next start
            log.error("could not publish the journal to landing at shutdown: %s", exc)
        self._compactor.close()

    async def _compact_forever(self) -> None:
        """Publish closed journal segments to landing about once per segment period; after an
        object store failed, again with exponential backoff (oldest segment first). A local
        disk is retried every period: deliveries answer 503 until it works again."""
        period = max(self.landing.segment_seconds / 2, 0.05)
        failures = 0
        while True:
            backoff = failures and self.store.remote
            await asyncio.sleep(min(2 ** (failures - 1), 30) if backoff else period)
            self.landing.rotate_if_due()
            try:
                rows = await asyncio.to_thread(self.landing.compact_closed,
                                               self._compactor.compact)
            except PublishError as exc:
                failures += 1
                self.metrics.compaction_failures.inc()
                self.metrics.publish_failures.labels(exc.reason).inc()
                log.error("publishing the journal to %s failed (%s; attempt %d): %s",
                          self.store.location, "deliveries answer 503 until it succeeds"
                          if not self.store.remote else "deliveries are still acknowledged "
                          "into the journal", failures, exc)
            else:
                failures = 0
                if rows:
                    self.metrics.compacted_rows.inc(rows)
            await asyncio.to_thread(self._refresh_backlog)

    def _refresh_backlog(self) -> None:
        backlog = journal_backlog(self.landing.journal_dir)
        self.backlog_bytes = backlog.bytes
        self.metrics.journal_backlog.set(self.landing.backlog())
        self.metrics.backlog_bytes.set(backlog.bytes)
        self.metrics.backlog_oldest_age.set(
            max(time.time() - backlog.oldest_received, 0) if backlog.oldest_received else 0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        integration = str(scope["path_params"]["integration"])
        method = str(scope["method"])
        answer, size = await self._handle(scope, receive, integration, method)
        await _send_json(send, answer)
        elapsed = time.perf_counter() - started
        # Unauthenticated names stay out of labels: they are unbounded and attacker-chosen.
        label = integration if answer.status not in (401, 404, 405) else "(rejected)"
        self.metrics.deliveries.labels(label, str(answer.status)).inc()
        self.metrics.request_seconds.observe(elapsed)
        self.deliveries.record(
            event="delivery", delivery_id=answer.delivery_id, integration=label, method=method,
            status=answer.status, bytes=size, latency_ms=round(elapsed * 1000, 3))

    async def _handle(self, scope: Scope, receive: Receive, integration: str, method: str
                      ) -> tuple[_Answer, int]:
        if method not in DELIVERY_METHODS:
            return _Answer(405, {"error": f"method {method} is not accepted"}), 0
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > self.settings.max_header_bytes:
            return _Answer(431, {"error": f"request headers are {header_bytes} bytes, over "
                                 f"OSVI_MAX_HEADER_BYTES ({self.settings.max_header_bytes})"}), 0
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope["headers"]}
        outcome = self.authority.authenticate(integration, headers)
        if outcome is AuthOutcome.UNKNOWN_INTEGRATION:
            return _Answer(404, {"error": f"unknown integration {integration[:100]!r}"}), 0
        if outcome is AuthOutcome.UNAUTHORIZED:
            header = self.authority.header_name(integration)
            return _Answer(401, {"error": f"missing or wrong token in the {header} header"},
                           headers={"WWW-Authenticate": "Bearer"}), 0
        if not self.rate_limiter.allow(integration):
            return _Answer(429, {"error": f"more than {self.settings.rate_limit_per_integration}"
                                 f" deliveries a second for {integration}"},
                           headers={"Retry-After": str(self.rate_limiter.retry_after)}), 0
        try:
            async with asyncio.timeout(self.settings.request_timeout_seconds):
                raw = await self._read_body(headers, receive)
        except BodyTooLarge:
            limit = self.settings.max_body_bytes
            return _Answer(413, {"error": f"body larger than {limit} bytes"}), 0
        except TimeoutError:
            seconds = self.settings.request_timeout_seconds
            return _Answer(408, {"error": f"the body did not arrive within {seconds} s"}), 0
        secret = self.authority.signing_secret(integration)
        if secret is not None:
            problem = verify_standard_webhook(secret, headers, raw)
            if problem is not None:
                return _Answer(401, {"error": problem}), len(raw)
        return await self._store(scope, headers, integration, method, raw), len(raw)

    async def _read_body(self, headers: Mapping[str, str], receive: Receive) -> bytes:
        """The body, refused as soon as it is known to exceed the limit (never buffered)."""
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _store(self, scope: Scope, headers: Mapping[str, str], integration: str,
                     method: str, raw: bytes) -> _Answer:
        assert self.committer is not None, "the app's lifespan has not started"
        if self.landing.compaction_error is not None:
            return _Answer(503, {"error": "not stored: landing is not writable "
                                 f"({self.landing.compaction_error})"}, headers=self._retry_after)
        if self.backlog_bytes >= self.settings.backlog_max_bytes:
            return _Answer(503, {"error": "not stored: the backlog of deliveries waiting for "
                                 f"{self.store.location} reached OSVI_BACKLOG_MAX_BYTES "
                                 f"({self.settings.backlog_max_bytes})"},
                           headers=self._retry_after)
        body = inspect_body(raw, method)
        delivery_id = str(uuid.uuid4())
        query = scope.get("query_string", b"").decode("latin-1")
        row = LandingRow(
            delivery_id=delivery_id,
            received_at=time.time_ns() // 1000,
            integration=integration,
            method=method,
            path=str(scope["path"]),
            query=redact_query(query) or None,
            headers=redact_headers(headers.items(), self.authority.header_name(integration),
                                   self.secrets),
            body=body.text,
            body_sha256=body.sha256,
            call_log_id=body.call_log_id,
            parse_error=body.parse_error,
            body_base64=body.base64,
        )
        try:
            await self.committer.submit(row)
        except StoreUnavailable as exc:
            return _Answer(503, {"error": f"not stored: {exc}"}, headers=self._retry_after)
        if body.parse_error is not None:
            return _Answer(400, {"error": body.parse_error, "delivery_id": delivery_id},
                           delivery_id)
        return _Answer(200, {"status": "stored", "delivery_id": delivery_id}, delivery_id)

    async def ready(self) -> Response:
        problems = []
        folders = {"journal": self.landing.journal_dir}  # what the acknowledgement needs
        if not self.store.remote:
            folders["landing"] = self.settings.layout.landing_dir
        for what, folder in folders.items():
            try:
                await asyncio.to_thread(probe_writable, folder)
            except OSError as exc:
                problems.append(f"{what} directory not writable: {exc.strerror or exc}")
        share = self.backlog_bytes / self.settings.backlog_max_bytes
        if share >= READY_BACKLOG_SHARE:
            problems.append(f"backlog of unpublished deliveries at {share:.0%} of "
                            "OSVI_BACKLOG_MAX_BYTES"
                            + (f" ({self.landing.publish_error})"
                               if self.landing.publish_error else ""))
        if self.landing.compaction_error is not None:
            problems.append(f"landing compaction failing: {self.landing.compaction_error}")
        if self.committer is None:
            problems.append("not started")
        elif self.committer.full:
            problems.append("commit queue is full")
        if problems:
            return Response(orjson.dumps({"status": "not ready", "problems": problems}),
                            status_code=503, headers=self._retry_after,
                            media_type="application/json")
        status: dict[str, object] = {"status": "ready", "backlog_bytes": self.backlog_bytes}
        if self.landing.publish_error is not None:  # ready still: the journal holds them
            status["publishing"] = f"retrying: {self.landing.publish_error}"
        return Response(orjson.dumps(status), media_type="application/json")


async def _send_json(send: Send, answer: _Answer) -> None:
    body = orjson.dumps(answer.payload)
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    headers += [(name.encode(), value.encode()) for name, value in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; raises ConfigError / IntegrationsError on a bad configuration."""
    settings = settings or load_settings()
    endpoint = DeliveryEndpoint(settings, build_authority(settings), IngestMetrics())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await endpoint.start()
        try:
            yield
        finally:
            await endpoint.stop()

    app = FastAPI(title="osvi-pipeline ingest", version=package_version(), lifespan=lifespan,
                  summary="Durable receiver for OSVI post-call webhooks")
    app.state.ingest = endpoint
    for path in DELIVERY_ROUTES:
        app.router.routes.append(Route(path, endpoint, methods=list(DELIVERY_METHODS)))

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": package_version()}

    @app.get("/readyz", tags=["operations"],
             summary="The journal is writable, the queue not full, the backlog not near its bound")
    async def readyz() -> Response:
        return await endpoint.ready()

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        payload, content_type = endpoint.metrics.render()
        return Response(payload, media_type=content_type)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                 routes=app.routes)
            schema["paths"].update(DELIVERY_PATHS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
