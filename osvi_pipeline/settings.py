"""The pipeline's view of the configuration: the same OSVI_* variables as the ingest API."""

from __future__ import annotations

from datetime import date

from ingest_api.settings import Settings, load_settings

__all__ = ["FIRST_PARTITION_DAY", "Settings", "load_settings"]

# Daily partitions start here; days without landed data are simply empty.
FIRST_PARTITION_DAY = date(2024, 1, 1)
