"""`make bench` is not run by CI; its modules must still import (a moved test fixture once broke
it without any test noticing)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["benchmarks.__main__", "benchmarks.before_after",
                                    "benchmarks.history_import", "benchmarks.soak",
                                    "benchmarks.ingest", "benchmarks.freshness"])
def test_the_benchmark_modules_import(module: str) -> None:
    loaded = importlib.import_module(module)
    assert callable(getattr(loaded, "main", None) or getattr(loaded, "run", None))
