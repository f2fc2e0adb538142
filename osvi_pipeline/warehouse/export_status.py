"""What each export destination holds, as the export last left it (`export/<name>.json`):
read by the `export_lag` check in the warehouse's runs without contacting the destination."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from osvi_pipeline.warehouse.queries import scalar, table_exists


@dataclass(frozen=True)
class ExportStatus:
    holds_publication_at: str | None  # ISO time of the publication the destination holds
    last_success_at: str | None
    failing_since: str | None  # the first failed attempt since the last success
    last_error: str | None  # the exception's type and first line (never a credential)


def status_path(export_dir: Path, destination: str) -> Path:
    return export_dir / f"{destination}.json"


def read_status(export_dir: Path, destination: str) -> ExportStatus | None:
    path = status_path(export_dir, destination)
    if not path.exists():
        return None
    return ExportStatus(**json.loads(path.read_text(encoding="utf-8")))


def write_status(export_dir: Path, destination: str, status: ExportStatus) -> None:
    export_dir.mkdir(parents=True, exist_ok=True)
    path = status_path(export_dir, destination)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(asdict(status)), encoding="utf-8")
    os.replace(temp, path)


def publication_time(published: Path) -> datetime | None:
    """When the published copy was published (its newest change record's time)."""
    if not published.exists():
        return None
    with duckdb.connect(str(published), read_only=True) as con:
        if not table_exists(con, "osvi_state", "export_changes"):
            return None
        value = scalar(con, "select max(published_at) from osvi_state.export_changes")
    return value if isinstance(value, datetime) else None
