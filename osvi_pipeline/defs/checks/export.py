"""`export_to_<destination>_within_lag`: a warning when a destination holds a publication older
than OSVI_EXPORT_MAX_LAG_MINUTES while newer ones wait. Evaluated by the warehouse's own runs
(micro-batches included) from the export's status file, so it speaks while the destination
is down and export runs fail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from osvi_pipeline.warehouse.export_status import read_status


def lag_check_name(destination: str) -> str:
    return f"export_to_{destination}_within_lag"


def build_lag_check(destination: str, export_dir: Path,
                    max_lag_minutes: float) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset="warehouse_snapshot", name=lag_check_name(destination),
                    description=f"Warns when `{destination}` holds a publication older than "
                                f"{max_lag_minutes:g} minutes (OSVI_EXPORT_MAX_LAG_MINUTES).")
    def export_lag() -> dg.AssetCheckResult:
        status = read_status(export_dir, destination)
        if status is None:
            return dg.AssetCheckResult(passed=True, metadata={"export": "not run yet"})
        since = status.holds_publication_at or status.failing_since
        now = datetime.now(UTC)
        lag = (now - datetime.fromisoformat(since)).total_seconds() / 60 if since else 0.0
        return dg.AssetCheckResult(
            passed=lag <= max_lag_minutes, severity=dg.AssetCheckSeverity.WARN,
            metadata={"lag_minutes": dg.MetadataValue.float(round(lag, 1)),
                      "holds_publication_at": str(status.holds_publication_at),
                      "failing_since": str(status.failing_since),
                      "last_error": str(status.last_error)})

    return export_lag
