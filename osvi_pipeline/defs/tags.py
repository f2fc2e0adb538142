"""Run tags that change what a run's steps do."""

# Set by the landing sensor: `deliveries` appends the window's new landing files instead of
# replacing the window (a UI backfill or `osvi materialize` replaces it: idempotent re-runs).
LOAD_TAG = "osvi/load"
NEW_FILES = "new-files"

# Set by the daily schedule (and `osvi materialize --retention`): with OSVI_RETENTION_DAYS,
# `deliveries` deletes the per-call data older than that after its load (warehouse/retention.py).
RETENTION_TAG = "osvi/retention"
