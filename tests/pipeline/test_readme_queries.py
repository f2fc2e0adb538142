"""The README's example analyst queries, run as written on a warehouse of simulated calls: a
renamed column or table breaks this test, not a newcomer's first query."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import duckdb

from osvi_cli.simulate import generate_deliveries
from tests.support.config import CHECKOUT, make_settings
from tests.support.pipeline import delivery, land, run

README = CHECKOUT / "README.md"


def example_queries() -> list[str]:
    """The statements of the SQL block under "Example queries"."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"Example queries.*?```sql\n(.*?)```", text, flags=re.DOTALL)
    assert block is not None, "README has no example query block"
    return [statement.strip() for statement in block.group(1).split(";") if statement.strip()]


def test_the_readme_example_queries_run_on_simulated_calls(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    yesterday = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(8),
                                 tzinfo=UTC)
    land(settings, [delivery(yesterday + timedelta(seconds=index), item.body,
                             integration=item.integration)
                    for index, item in enumerate(generate_deliveries(400, seed=7))])
    run(settings, f"{yesterday:%Y-%m-%d}")
    queries = example_queries()
    assert len(queries) >= 5  # the block was found and split
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        for sql in queries:
            rows = con.execute(sql).fetchall()
            # Simulated appointment dates are fixed, so a filter on today may select nothing.
            if "current_date" not in sql or "call_date" in sql:
                assert rows, f"no rows for the README query:\n{sql}"
