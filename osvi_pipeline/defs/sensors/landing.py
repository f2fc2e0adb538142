"""A sensor on landing (a folder or a bucket): new files -> a run for the days they belong to."""

import hashlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from osvi_core.landing_compaction import is_compacted
from osvi_pipeline.defs.jobs import LANDING_JOB, WAREHOUSE_JOB, WarehouseJob
from osvi_pipeline.defs.resources import OsviOptions
from osvi_pipeline.defs.tags import LOAD_TAG, NEW_FILES
from osvi_pipeline.lib.landing_cursor import LandingCursor
from osvi_pipeline.lib.local_days import local_days_of_utc_day

PARTITION_TAG = "dagster/partition"
LOAD_STEP = "deliveries"  # the step that reads the day's landing files
# Statuses of a run that has not begun its first step (the one that reads landing).
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
           dg.DagsterRunStatus.STARTING]


def build_landing_sensor(job: WarehouseJob, first_day: date,
                         interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Materializes the days that received new landing files.")
    def landing_sensor(context: dg.SensorEvaluationContext,
                       osvi: OsviOptions) -> dg.SensorResult:
        before = LandingCursor.parse(context.cursor)
        store = osvi.landing
        # A compaction's parts hold deliveries every load of their day has read already.
        files = {file.path: file for day in store.days_changed_since(before.horizon_ns)
                 for file in store.files(day) if not is_compacted(file.name)}
        new, cursor = before.advance((file.path, file.modified_ns) for file in files.values())
        newest: dict[date, int] = {}  # local day -> its newest new file's time
        for path in new:
            for day in local_days_of_utc_day(date.fromisoformat(files[path].day),
                                             osvi.timezone):
                newest[day] = max(newest.get(day, 0), files[path].modified_ns)
        if context.cursor is None:  # first look: every file is "new"
            newest = {day: ns for day, ns in newest.items()
                      if not _loaded_since(context.instance, day, ns)}
        touched = set(newest)
        today = datetime.now(ZoneInfo(osvi.timezone)).date()
        older = sorted(day for day in touched if day < first_day)
        if older:  # history imported after this code location was loaded
            context.log.warning(
                f"landing files for {older[0]}..{older[-1]}, before the first partition "
                f"{first_day}: reload the code location (Deployment > Reload) or run "
                f"`osvi materialize --start {older[0]} --end {older[-1]}`")
        batch = hashlib.sha256("\n".join(new).encode()).hexdigest()[:16]
        waiting = _days_with_a_waiting_run(context.instance) if touched else set()
        requests = [
            # run_key: the same day and the same new files never launch a second run.
            dg.RunRequest(partition_key=day.isoformat(), run_key=f"{day}:{batch}",
                          tags={LOAD_TAG: NEW_FILES})
            for day in sorted(touched)
            if first_day <= day <= today and day.isoformat() not in waiting
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor.dumps())

    return landing_sensor


def _loaded_since(instance: dg.DagsterInstance, day: date, newest_file_ns: int) -> bool:
    """The day was loaded (by `osvi materialize` or a backfill, before the sensor first
    looked: a history import, an upgrade) after its newest file landed. Relaunching every such
    day would put a run per day of history ahead of today's."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(LOAD_STEP),
                              asset_partitions=[day.isoformat()]), limit=1).records
    return bool(records) and records[0].timestamp * 1e9 >= newest_file_ns


def _days_with_a_waiting_run(instance: dg.DagsterInstance) -> set[str]:
    """Days whose run is queued and will load the day's deliveries when it starts, new files
    included, so another run would only repeat it. Without this, a warehouse whose runs take
    longer than the sensor's interval would grow its queue without end. A re-execution from a
    later step (a retry, or chosen in the UI) does not load them, so it does not count."""
    runs = [run for job_name in (LANDING_JOB, WAREHOUSE_JOB)  # a sensor's, a backfill's
            for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name,
                                                               statuses=WAITING))]
    return {run.tags[PARTITION_TAG] for run in runs
            if PARTITION_TAG in run.tags
            and (run.step_keys_to_execute is None or LOAD_STEP in run.step_keys_to_execute)}
