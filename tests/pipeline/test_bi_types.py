"""Every column analysts see has a type BI tools read: no HUGEINT, unsigned or odd types
(pandas, JDBC/ODBC drivers and many BI tools read them badly or not at all)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from osvi_cli.simulate import generate_deliveries
from tests.support.config import make_settings
from tests.support.pipeline import delivery, land, query, run

READABLE = re.compile(r"BIGINT|DOUBLE|DECIMAL\(\d+,\d+\)|VARCHAR|BOOLEAN|DATE|TIMESTAMP"
                      r"|TIMESTAMP WITH TIME ZONE|JSON")
# Lists only where docs/warehouse.md documents them.
DOCUMENTED_LISTS = {("field_catalog", "conditions"), ("field_catalog", "observed_types")}


@pytest.mark.parametrize("pii", ["keep", "mask"])
def test_every_analyst_column_has_a_bi_readable_type(tmp_path: Path, pii: str) -> None:
    settings = make_settings(tmp_path, pii=pii)
    start = datetime(2026, 11, 20, 8, tzinfo=UTC)
    land(settings, [delivery(start + timedelta(seconds=i), orjson.loads(simulated.body),
                             integration=simulated.integration)
                    for i, simulated in enumerate(generate_deliveries(200, seed=7))])
    run(settings, "2026-11-20")
    columns = query(settings, "select table_name, column_name, data_type "
                              "from information_schema.columns where table_schema = 'main'")
    assert len({table for table, _, _ in columns}) >= 15, "tables, wide tables and views"
    odd = [(table, column, data_type) for table, column, data_type in columns
           if not READABLE.fullmatch(data_type)
           and not ((table, column) in DOCUMENTED_LISTS and data_type == "VARCHAR[]")]
    assert odd == []
