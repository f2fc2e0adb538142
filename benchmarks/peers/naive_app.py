"""Peer for the ingest benchmark: one Parquet file with fsync per request (no group commit)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import FastAPI, Request
from fastapi.responses import Response

LANDING = Path(os.environ.get("NAIVE_LANDING", "naive-landing"))
LANDING.mkdir(parents=True, exist_ok=True)
app = FastAPI()


def _write(body: bytes, delivery_id: str) -> None:
    table = pa.table({"delivery_id": [delivery_id], "body": [body.decode()]})
    path = LANDING / f"{delivery_id}.parquet"
    with open(path, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())


@app.post("/webhooks/{integration}")
async def receive(request: Request, integration: str) -> Response:
    body = await request.body()
    orjson.loads(body)
    delivery_id = str(uuid.uuid4())
    _write(body, delivery_id)  # in the event loop, as a naive endpoint would
    return Response(orjson.dumps({"status": "stored", "delivery_id": delivery_id}),
                    media_type="application/json")
