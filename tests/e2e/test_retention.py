"""Retention (issue 30): over a 40-day history, OSVI_RETENTION_DAYS=30 deletes the per-call data
of the first 10 days from landing and the warehouse, while the aggregate marts read exactly as
before, also after the working file is deleted and rebuilt from what landing has left."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from osvi_core.settings import Settings
from osvi_pipeline.defs.tags import RETENTION_TAG
from osvi_pipeline.runtime.materialize import materialize_days
from osvi_pipeline.warehouse.retention import RETAINED_MARTS
from osvi_testkit.processes import OSVI
from tests.e2e.test_erasure import cli_env
from tests.support.config import make_settings
from tests.support.histories import simulated
from tests.support.pipeline import land

pytestmark = pytest.mark.slow
DAYS, KEEP = 40, 30


def marts(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        return {mart: sorted(con.execute(f"select * from {mart}").fetchall(), key=repr)
                for mart in RETAINED_MARTS}


def test_retention_deletes_old_calls_and_the_marts_keep_their_numbers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, timezone="UTC", retention_days=KEEP)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DAYS - 1)
    for index in range(DAYS):
        land(settings, simulated(first + timedelta(days=index, hours=9), 25, seed=index))
    assert materialize_days(settings, first.date(), today.date()).success
    before = marts(settings)
    cutoff = (today - timedelta(days=KEEP)).date()
    assert any(row[0] < cutoff for row in before["campaign_daily"]), "old days to keep"

    preview = subprocess.run([OSVI, "forget", "--older-than", str(KEEP), "--dry-run"],
                             env=cli_env(settings), capture_output=True, text=True, timeout=120)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    old_days = DAYS - KEEP - 1  # today is one of the 40
    assert f"would delete {old_days} files" in preview.stdout, preview.stdout
    assert marts(settings) == before

    # The daily run (its schedule's tag) applies OSVI_RETENTION_DAYS.
    assert materialize_days(settings, today.date(), today.date(), only_new_files=True,
                            tags={RETENTION_TAG: "true"}).success
    with duckdb.connect(str(settings.layout.warehouse_path), read_only=True) as con:
        assert con.execute("select min(call_date) from calls").fetchall() == [(cutoff,)]
        assert con.execute("select count(*) from data_capture_fields f join calls c "
                           "using (call_log_id) where c.call_date < $d",
                           {"d": cutoff}).fetchall() == [(0,)]
    landed = sorted(path.name for path in settings.layout.landing_dir.glob("received_date=*")
                    if any(path.glob("*.parquet")))
    assert landed[0] == f"received_date={cutoff}"
    assert marts(settings) == before

    # A full rebuild from what landing holds now: the old days still read the same.
    shutil.rmtree(settings.layout.pipeline_warehouse_path.parent)
    assert materialize_days(settings, cutoff, today.date()).success
    assert marts(settings) == before
