"""`osvi report campaigns`: campaign results from the warehouse, for people and scripts."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import orjson
from rich.table import Table

CAMPAIGNS_SQL = """
select call_date, campaign, calls, unique_phones, inbound, outbound, agents, extra_deliveries,
       attempts, round(reach_rate, 4) as reach_rate
from campaign_daily
where ($start is null or call_date >= $start)
  and ($end is null or call_date <= $end)
  and ($campaign is null or campaign = $campaign)
order by call_date, calls desc, campaign
"""


class ReportError(Exception):
    pass


def campaign_rows(warehouse: Path, start: date | None, end: date | None,
                  campaign: str | None) -> tuple[list[str], list[tuple[Any, ...]]]:
    if not warehouse.exists():
        raise ReportError(f"no warehouse at {warehouse} yet: run `osvi materialize` first")
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            cursor = con.execute(CAMPAIGNS_SQL, {"start": start, "end": end,
                                                 "campaign": campaign})
            columns = [column[0] for column in cursor.description or []]
            return columns, cursor.fetchall()
    except duckdb.CatalogException:
        raise ReportError("the warehouse has no campaign_daily table yet: run "
                          "`osvi materialize`") from None
    except duckdb.IOException as exc:
        raise ReportError(f"cannot open {warehouse}: {exc}") from None


def as_csv(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def as_json(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    return orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows],
                        option=orjson.OPT_INDENT_2).decode()


def as_table(columns: list[str], rows: list[tuple[Any, ...]]) -> Table:
    table = Table(title="Campaigns per day", show_lines=False)
    for column in columns:
        label = column in ("call_date", "campaign")
        table.add_column(column.replace("_", " "), justify="left" if label else "right",
                         no_wrap=label)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    return table
