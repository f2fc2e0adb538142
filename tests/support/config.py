"""Settings on temp dirs, the real app driven over ASGI, OSVI's sample payload."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from ingest_api.app import create_app
from osvi_core.settings import Settings

CHECKOUT = Path(__file__).resolve().parents[2]
SEED_PAGE = CHECKOUT.parent / "shared" / "seed"
SAMPLE_FILE = CHECKOUT / "osvi_cli" / "osvi_sample.json"
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def sample_payload_bytes() -> bytes:
    """The sample body exactly as OSVI's webhook page shows it (falls back to a copy)."""
    pages = sorted(SEED_PAGE.glob("*.txt")) if SEED_PAGE.is_dir() else []
    text = pages[0].read_text(encoding="utf-8") if pages else (
        SAMPLE_FILE.read_text(encoding="utf-8"))
    match = re.search(r"^\{\n.*?^\}$", text, re.DOTALL | re.MULTILINE)
    assert match, "the seed page has no sample payload"
    return match.group(0).encode("utf-8")


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "data", "ingest_token": TOKEN,
                                 "batch_max_wait_ms": 1.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The real app with its lifespan (group committer running), driven over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest.test") as client:
            yield app, client
