"""The explorer's routes (CONTRACT.md, "Campaign explorer"): server-rendered HTML for people,
the same data as JSON with `?format=json`, every filter validated (400 naming it) and bound.
"""

from __future__ import annotations

import html
import io
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from osvi_core.settings import Settings
from osvi_core.version import package_version
from osvi_explorer import queries, views
from osvi_explorer.filters import (
    BadParameter,
    CallFilters,
    parse_call_filters,
    parse_page,
    parse_range,
    parse_text,
    wants_json,
)
from osvi_explorer.reader import WarehouseReader
from osvi_explorer.security import (
    OPEN_PATHS,
    REALM,
    SECURITY_HEADERS,
    LoginThrottle,
    password_matches,
)

HERE = Path(__file__).parent
PageData = dict[str, Any]


class NotFound(Exception):
    """An unknown campaign or call: 404."""


@dataclass
class Explorer:
    settings: Settings
    reader: WarehouseReader
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(version=package_version(), quote=quote,
                                          urlencode=urlencode)

    def today(self) -> date:
        return datetime.now(self.settings.tz).date()

    def range_page(self, request: Request,
                   view: Callable[[duckdb.DuckDBPyConnection, date, date], PageData],
                   template: str, title: str) -> Response:
        """A page over a date range: its view's data, or an empty page before publication."""
        start, end = parse_range(request.query_params, self.today())
        with self.reader.cursor() as con:
            data = view(con, start, end) if con else views.empty(start, end)
        return self.render(request, template, title, data)

    def render(self, request: Request, template: str, title: str, data: PageData) -> Response:
        if wants_json(request.query_params):
            return JSONResponse(jsonable_encoder(data))
        pairs = [(key, value) for key, value in request.query_params.multi_items()
                 if key != "format"]
        json_url = f"{request.url.path}?{urlencode([*pairs, ('format', 'json')])}"
        return self.templates.TemplateResponse(request, template, {
            "title": title, "data": data, "views": views, "json_url": json_url,
            "publication": self.reader.publication(), "warehouse": str(self.reader.path)})


def create_app(settings: Settings, reader: WarehouseReader | None = None) -> FastAPI:
    reader = reader or WarehouseReader(settings.layout.warehouse_path)
    explorer = Explorer(settings, reader)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        reader.start()
        yield
        reader.close()

    app = FastAPI(title="osvi-pipeline campaign explorer", version=package_version(),
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    throttle = LoginThrottle()
    password = settings.explorer_password

    @app.middleware("http")
    async def guard(request: Request,
                    call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if password and request.url.path not in OPEN_PATHS and not password_matches(
                request.headers.get("authorization"), password):
            await throttle.failed()
            response: Response = Response("login required\n", status_code=401,
                                          headers={"WWW-Authenticate": REALM})
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(BadParameter)
    async def bad_parameter(request: Request, exc: BadParameter) -> Response:
        return _bad(request, exc)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if request.query_params.get("format") == "json":
            return JSONResponse({"error": str(exc)}, status_code=404)
        return HTMLResponse(explorer.templates.get_template("error.html").render(
            title="Not found", message=str(exc), version=package_version()), status_code=404)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "version": package_version(),
                "published": reader.publication() is not None}

    @app.get("/publication")
    def publication() -> dict[str, str | None]:
        """What the pages' script polls: a new value means a new publication."""
        return {"publication": reader.publication()}

    @app.get("/")
    def overview(request: Request) -> Response:
        return explorer.range_page(request, views.overview, "overview.html", "Campaigns")

    @app.get("/campaigns/{campaign:path}")
    def campaign(request: Request, campaign: str) -> Response:
        name = parse_text("campaign", campaign) or ""
        start, end = parse_range(request.query_params, explorer.today())
        with reader.cursor() as con:
            if con is None or not queries.campaign_exists(con, name):
                raise NotFound(f"no calls for a campaign named {name!r}")
            data = views.campaign(con, name, start, end)
        return explorer.render(request, "campaign.html", name, data)

    @app.get("/calls.csv")
    def calls_csv(request: Request) -> StreamingResponse:
        filters = parse_call_filters(request.query_params, explorer.today())
        name = f"calls-{filters.start}-{filters.end}.csv"
        return StreamingResponse(_csv_stream(reader, filters), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/calls")
    def calls(request: Request) -> Response:
        filters = parse_call_filters(request.query_params, explorer.today())
        with reader.cursor() as con:
            data = views.calls(con, filters) if con else views.no_calls(filters)
        return explorer.render(request, "calls.html", "Calls", data)

    @app.get("/calls/{call_log_id:path}")
    def call(request: Request, call_log_id: str) -> Response:
        wanted = parse_text("call_log_id", call_log_id) or ""
        with reader.cursor() as con:
            data = views.call(con, wanted) if con else None
        if data is None:
            raise NotFound(f"no call with call_log_id {wanted!r}")
        return explorer.render(request, "call.html", f"Call {wanted}", data)

    @app.get("/fields")
    def fields(request: Request) -> Response:
        return explorer.range_page(request, views.fields, "fields.html", "Fields")

    @app.get("/rejected")
    def rejected(request: Request) -> Response:
        start, end = parse_range(request.query_params, explorer.today())
        page = parse_page(request.query_params)
        with reader.cursor() as con:
            data = (views.rejected(con, start, end, page) if con
                    else views.empty(start, end))
        return explorer.render(request, "rejected.html", "Rejected deliveries", data)

    return app


def _bad(request: Request, exc: BadParameter) -> Response:
    if request.query_params.get("format") == "json" or request.url.path.endswith(".csv"):
        return JSONResponse({"error": str(exc), "parameter": exc.name}, status_code=400)
    return HTMLResponse(f"<!doctype html><title>Bad request</title><p>{html.escape(str(exc))}</p>",
                        status_code=400)


def _csv_stream(reader: WarehouseReader, filters: CallFilters) -> Iterator[bytes]:
    """The CSV a batch at a time: a header row, then every matching call."""
    header = ",".join(queries.CSV_COLUMNS) + "\n"
    yield header.encode()
    with reader.cursor() as con:
        if con is None:
            return
        try:
            for batch in queries.calls_csv_batches(con, filters):
                sink = io.BytesIO()
                pa_csv.write_csv(pa.Table.from_batches([batch]), sink,
                                 pa_csv.WriteOptions(include_header=False))
                yield sink.getvalue()
        except duckdb.CatalogException:  # an older warehouse without `calls`
            return
