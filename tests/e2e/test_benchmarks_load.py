"""`make bench` is not run by CI; its modules must still import (a moved test fixture once broke
it without any test noticing)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["benchmarks.__main__", "benchmarks.before_after",
                                    "benchmarks.history_import", "benchmarks.soak",
                                    "benchmarks.ingest", "benchmarks.freshness",
                                    "benchmarks.explorer", "benchmarks.erasure",
                                    "benchmarks.scale", "benchmarks.landing_listing"])
def test_the_benchmark_modules_import(module: str) -> None:
    loaded = importlib.import_module(module)
    assert callable(getattr(loaded, "main", None) or getattr(loaded, "run", None))


@pytest.mark.slow
def test_the_explorer_benchmark_runs_end_to_end_on_a_small_history() -> None:
    """The whole benchmark at 3,000 deliveries (make bench runs it at ~1M calls)."""
    from benchmarks import explorer

    result = explorer.run(3_000)
    assert result.calls > 2_000 and len(result.pages) == 4
    assert all(timing.p95_ms > 0 and timing.bare_p95_ms > 0 for timing in result.pages)
    assert result.csv_rows > 0 and result.peak_rss_mb > 0
    assert "rows/s" in explorer.markdown(result)


@pytest.mark.slow
def test_the_erasure_benchmark_runs_end_to_end_on_a_small_landing() -> None:
    """The whole benchmark at 3,000 deliveries (make bench runs it at 1M), S3 part included."""
    from benchmarks import erasure

    result = erasure.run(3_000)
    assert result.removed[0] >= 1 and result.files_rewritten >= 1
    assert 0 < result.bytes_rewritten < result.landing_bytes
    assert result.s3_scan_seconds > 0 and result.total_seconds > 0
    assert "whole `osvi forget`" in erasure.markdown(result)


@pytest.mark.slow
def test_the_scale_benchmark_runs_at_100k() -> None:
    """The scale section at its smallest size (make bench adds 1M and 10M), with two
    micro-batches and a quarter of a minute of load, so the section cannot rot."""
    from benchmarks import scale

    [row] = scale.run((100_000,), fresh_minutes=0.25, batches=2)
    assert row.import_seconds > 0 and row.import_floor_seconds > 0
    assert row.first_seconds > row.write_floor_seconds > 0 and row.first_peak_mb > 0
    assert row.batch_seconds and len(row.batch_seconds) == 2
    assert row.fresh_p95 is not None and row.fresh_p95 >= (row.fresh_p50 or 0) > 0
    assert "| 100,000 |" in scale.markdown([row])


@pytest.mark.slow
def test_the_listing_benchmark_runs_small() -> None:
    """Local listing, S3 (moto) before and after compaction, and a day's compaction, small."""
    from benchmarks import landing_listing

    result = landing_listing.run(local_files=500, s3_objects=60, compact_files=40,
                                 rows_per_file=5)
    assert result.local_day_seconds > 0 and result.s3_week_seconds > 0
    assert result.compact_seconds > 0 and result.copy_floor_seconds > 0
    assert "6 closed days compacted" in landing_listing.markdown(result)
