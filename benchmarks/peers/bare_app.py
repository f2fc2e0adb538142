"""Peer for the ingest benchmark: a bare FastAPI endpoint that only parses the JSON."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


@app.post("/webhooks/{integration}")
async def receive(request: Request, integration: str) -> Response:
    payload = orjson.loads(await request.body())
    return Response(orjson.dumps({"status": "parsed", "keys": len(payload)}),
                    media_type="application/json")
