"""`osvi import`'s delivery ids: computed in SQL, they must stay uuid5's (a file imported by
an earlier version and again now must be recognised as imported)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import duckdb
import pytest

from osvi_cli.history_import import DELIVERY_ID_SQL, IMPORT_NAMESPACE, UUID5_FORMAT_SQL, utc_day


def delivery_id(integration: str, sha: str | None, occurrence: int) -> str:
    """The id `osvi import` gives, computed by its SQL."""
    rows = duckdb.sql(
        f"select {UUID5_FORMAT_SQL} from (select {DELIVERY_ID_SQL} as h from "
        "(select $sha::varchar as body_sha256, $occurrence::bigint as occurrence))",
        params={"namespace": IMPORT_NAMESPACE.bytes, "integration": integration, "sha": sha,
                "occurrence": occurrence}).fetchall()
    return str(rows[0][0])


@pytest.mark.parametrize("integration", ["crm", "sheets", "ünïcode", ""])
@pytest.mark.parametrize("sha", ["0" * 64, "ab" * 32, None])
@pytest.mark.parametrize("occurrence", [0, 1, 12345])
def test_delivery_ids_are_uuid5(integration: str, sha: str | None, occurrence: int) -> None:
    expected = uuid.uuid5(IMPORT_NAMESPACE, f"{integration}\n{sha}\n{occurrence}")
    assert delivery_id(integration, sha, occurrence) == str(expected)


@pytest.mark.parametrize("moment", [datetime(2026, 12, 6, 0, 0, tzinfo=UTC),
                                    datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=UTC),
                                    datetime(1999, 12, 31, 12, tzinfo=UTC)])
def test_utc_day_is_the_day_of_the_moment(moment: datetime) -> None:
    assert utc_day(int(moment.timestamp() * 1_000_000)) == moment.date().isoformat()
