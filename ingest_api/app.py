"""The FastAPI app that receives OSVI webhook deliveries and lands them durably.

Every answer follows CONTRACT.md: 200 only after the delivery is on disk, 400 for a body that
is not a JSON object (stored anyway), 401/404/413 before anything is stored, 503 with
Retry-After when it cannot be stored right now.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ingest_api.body import inspect_body
from ingest_api.committer import CommitStats, GroupCommitter, StoreUnavailable
from ingest_api.integrations import AuthOutcome, TokenAuthority, build_authority
from ingest_api.landing import LandingRow, LandingWriter, quarantine_abandoned_temp_files
from ingest_api.metrics import IngestMetrics
from ingest_api.redaction import redact_headers, redact_query
from ingest_api.settings import Settings, load_settings

log = logging.getLogger("osvi.ingest")

DELIVERY_METHODS = ["POST", "PUT", "PATCH", "GET", "DELETE"]
_REQUEST_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "The OSVI delivery: a JSON object (Auto or Custom Template body). "
        "GET and DELETE deliveries carry none.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_RESPONSES_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "Stored durably: `{\"status\": \"stored\", \"delivery_id\": ...}`"},
    400: {"description": "Not a JSON object; stored with parse_error: "
               "`{\"error\", \"delivery_id\"}`"},
    401: {"description": "Missing or wrong token; nothing stored"},
    404: {"description": "Unknown integration; nothing stored"},
    413: {"description": "Body larger than OSVI_MAX_BODY_BYTES; nothing stored"},
    503: {"description": "Cannot be stored right now; retry after Retry-After seconds"},
}


def _json(status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
          ) -> Response:
    return Response(orjson.dumps(payload), status_code=status, headers=headers,
                    media_type="application/json")


class _Ingest:
    """Request handling, holding what the handlers share."""

    def __init__(self, settings: Settings, authority: TokenAuthority,
                 metrics: IngestMetrics) -> None:
        self.settings = settings
        self.authority = authority
        self.metrics = metrics
        self.writer = LandingWriter(settings.landing_dir)
        self.secrets = authority.all_tokens()
        self.committer: GroupCommitter | None = None

    async def start(self) -> None:
        quarantine_abandoned_temp_files(self.settings.landing_dir, self.settings.quarantine_dir)
        self.settings.landing_dir.mkdir(parents=True, exist_ok=True)
        stats = CommitStats(
            on_batch=self.metrics.record_batch,
            on_depth=self.metrics.queue_depth.set,
            on_failure=self.metrics.write_failures.inc,
        )
        self.committer = GroupCommitter(
            self.writer.write,
            max_rows=self.settings.batch_max_rows,
            max_wait=self.settings.batch_max_wait_ms / 1000,
            max_queue=self.settings.queue_max,
            stats=stats,
        )
        self.committer.start()

    async def stop(self) -> None:
        if self.committer is not None:
            await self.committer.close()

    async def receive(self, request: Request, integration: str, path: str = "") -> Response:
        started = time.perf_counter()
        response, delivery_id, size = await self._handle(request, integration)
        elapsed = time.perf_counter() - started
        status = response.status_code
        # Unauthenticated names stay out of labels: they are unbounded and attacker-chosen.
        label = integration if status not in (401, 404) else "(rejected)"
        self.metrics.deliveries.labels(label, str(status)).inc()
        self.metrics.request_seconds.observe(elapsed)
        log.info(orjson.dumps({
            "event": "delivery", "delivery_id": delivery_id, "integration": label,
            "method": request.method, "status": status, "bytes": size,
            "latency_ms": round(elapsed * 1000, 3),
        }).decode())
        return response

    async def _handle(self, request: Request, integration: str
                      ) -> tuple[Response, str | None, int]:
        outcome = self.authority.authenticate(integration, request.headers)
        if outcome is AuthOutcome.UNKNOWN_INTEGRATION:
            return _json(404, {"error": f"unknown integration {integration[:100]!r}"}), None, 0
        if outcome is AuthOutcome.UNAUTHORIZED:
            header = self.authority.header_name(integration)
            return _json(401, {"error": f"missing or wrong token in the {header} header"},
                         {"WWW-Authenticate": "Bearer"}), None, 0
        raw = await self._read_body(request)
        if raw is None:
            limit = self.settings.max_body_bytes
            return _json(413, {"error": f"body larger than {limit} bytes"}), None, 0
        response, delivery_id = await self._store(request, integration, raw)
        return response, delivery_id, len(raw)

    async def _read_body(self, request: Request) -> bytes | None:
        """The body, or None as soon as it is known to exceed the limit (never buffered)."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _store(self, request: Request, integration: str, raw: bytes
                     ) -> tuple[Response, str | None]:
        assert self.committer is not None, "the app's lifespan has not started"
        body = inspect_body(raw, request.method)
        delivery_id = str(uuid.uuid4())
        query = request.scope.get("query_string", b"").decode("latin-1")
        row = LandingRow(
            delivery_id=delivery_id,
            received_at=datetime.now(UTC),
            integration=integration,
            method=request.method,
            path=request.url.path,
            query=redact_query(query) or None,
            headers=redact_headers(request.headers.items(),
                                   self.authority.header_name(integration), self.secrets),
            body=body.text,
            body_sha256=body.sha256,
            call_log_id=body.call_log_id,
            parse_error=body.parse_error,
            body_base64=body.base64,
        )
        try:
            await self.committer.submit(row)
        except StoreUnavailable as exc:
            return _json(503, {"error": f"not stored: {exc}"},
                         {"Retry-After": str(self.settings.retry_after_seconds)}), None
        if body.parse_error is not None:
            return _json(400, {"error": body.parse_error, "delivery_id": delivery_id}), delivery_id
        return _json(200, {"status": "stored", "delivery_id": delivery_id}), delivery_id

    async def ready(self) -> Response:
        problems = []
        try:
            await asyncio.to_thread(self.writer.probe)
        except OSError as exc:
            problems.append(f"landing directory not writable: {exc.strerror or exc}")
        if self.committer is None:
            problems.append("not started")
        elif self.committer.full:
            problems.append("commit queue is full")
        if problems:
            return _json(503, {"status": "not ready", "problems": problems},
                         {"Retry-After": str(self.settings.retry_after_seconds)})
        return _json(200, {"status": "ready"})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; raises ConfigError / IntegrationsError on a bad configuration."""
    settings = settings or load_settings()
    ingest = _Ingest(settings, build_authority(settings), IngestMetrics())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ingest.start()
        try:
            yield
        finally:
            await ingest.stop()

    app = FastAPI(
        title="osvi-pipeline ingest",
        summary="Durable receiver for OSVI post-call webhooks",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.ingest = ingest
    routes = {"": "/webhooks/{integration}", "_with_path": "/webhooks/{integration}/{path:path}"}
    for suffix, route in routes.items():
        for method in DELIVERY_METHODS:
            app.add_api_route(route, ingest.receive, methods=[method],
                              operation_id=f"{method.lower()}_delivery{suffix}",
                              summary=f"Receive one OSVI delivery ({method})",
                              responses=_RESPONSES_DOC, tags=["deliveries"],
                              openapi_extra=None if method in ("GET", "DELETE")
                              else _REQUEST_BODY_DOC)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Landing is writable and the queue not full")
    async def readyz() -> Response:
        return await ingest.ready()

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        payload, content_type = ingest.metrics.render()
        return Response(payload, media_type=content_type)

    return app
