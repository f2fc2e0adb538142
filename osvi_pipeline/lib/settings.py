"""The pipeline's view of the configuration: the same OSVI_* variables as the ingest API."""

from __future__ import annotations

from ingest_api.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
