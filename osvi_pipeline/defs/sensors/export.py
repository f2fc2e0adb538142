"""`export_sensor`: a new publication -> one `export_job` run, never two at a time; after a
failed export, the next waits a backoff that doubles (30 s up to 10 minutes)."""

from __future__ import annotations

import time

import dagster as dg

from osvi_pipeline.defs.jobs import EXPORT_JOB, WarehouseJob

PUBLICATION = dg.AssetKey("warehouse_snapshot")
BACKOFF_SECONDS, BACKOFF_MAX_SECONDS = 30.0, 600.0
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
          dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def build_export_sensor(job: WarehouseJob, interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Exports to OSVI_EXPORT_DESTINATIONS when a publication lands.")
    def export_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        instance = context.instance
        records = instance.fetch_materializations(PUBLICATION, limit=1).records
        if not records:
            return dg.SensorResult(skip_reason="nothing published yet")
        latest = records[0]
        if context.cursor and int(context.cursor) >= latest.storage_id:
            return dg.SensorResult(skip_reason="the latest publication is exported")
        if instance.get_runs_count(dg.RunsFilter(job_name=EXPORT_JOB, statuses=ACTIVE)):
            return dg.SensorResult(skip_reason="an export is running")
        wait = _backoff(instance)
        if wait is not None:
            return dg.SensorResult(skip_reason=f"the last export failed: next try in {wait:.0f} s")
        return dg.SensorResult(run_requests=[dg.RunRequest()], cursor=str(latest.storage_id))

    return export_sensor


def _backoff(instance: dg.DagsterInstance) -> float | None:
    """Seconds left to wait after consecutive failed exports, or None."""
    records = instance.get_run_records(dg.RunsFilter(job_name=EXPORT_JOB), limit=8)
    failures = 0
    for record in records:
        if record.dagster_run.status != dg.DagsterRunStatus.FAILURE:
            break
        failures += 1
    if not failures or records[0].end_time is None:
        return None
    delay = min(BACKOFF_SECONDS * 2 ** (failures - 1), BACKOFF_MAX_SECONDS)
    left = records[0].end_time + delay - time.time()
    return left if left > 0 else None
