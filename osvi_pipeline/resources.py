"""Resources: the DuckDB warehouse and the OSVI paths and options the assets need."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from ingest_api.settings import DEFAULT_NAME_KEYS, DEFAULT_PHONE_KEYS
from osvi_pipeline.pii import PiiRules
from osvi_pipeline.settings import Settings

# Every asset that writes the warehouse is in this pool; the shipped dagster.yaml limits it to
# one run at a time because a DuckDB file has a single writer.
WAREHOUSE_POOL = "duckdb_warehouse"


class OsviOptions(dg.ConfigurableResource):  # type: ignore[type-arg]
    landing_dir: str
    published_warehouse: str
    reports_dir: str
    quarantine_dir: str
    integrations_file: str | None = None
    timezone: str
    campaign_keys: list[str]
    pii: str = "keep"
    pii_phone_keys: str = DEFAULT_PHONE_KEYS
    pii_name_keys: str = DEFAULT_NAME_KEYS

    @property
    def landing(self) -> Path:
        return Path(self.landing_dir)

    @property
    def pii_rules(self) -> PiiRules | None:
        """The masking rules when OSVI_PII=mask, else None."""
        if self.pii != "mask":
            return None
        return PiiRules(self.pii_phone_keys, self.pii_name_keys)


def build_resources(settings: Settings) -> dict[str, object]:
    settings.pipeline_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "duckdb": DuckDBResource(
            database=str(settings.pipeline_warehouse_path),  # private: see publish.py
            # Bounded memory whatever the history's size: DuckDB spills to disk beyond it.
            connection_config={"memory_limit": settings.duckdb_memory_limit,
                               "preserve_insertion_order": False,
                               "temp_directory": str(settings.data_dir / "duckdb-tmp")},
        ),
        "osvi": OsviOptions(landing_dir=str(settings.landing_dir),
                            published_warehouse=str(settings.warehouse_path),
                            reports_dir=str(settings.data_dir / "reports"),
                            quarantine_dir=str(settings.quarantine_dir),
                            integrations_file=(str(settings.integrations_path)
                                               if settings.integrations_path else None),
                            timezone=settings.timezone,
                            campaign_keys=settings.campaign_key_list,
                            pii=settings.pii, pii_phone_keys=settings.pii_phone_keys,
                            pii_name_keys=settings.pii_name_keys),
    }
