"""Resources: the DuckDB warehouse and the OSVI paths and options the assets need."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from osvi_core.erasure import ErasureLedger
from osvi_core.landing_store import LandingStore, open_landing_store
from osvi_core.settings import Settings, setting_sources
from osvi_pipeline.lib.flag_stats import FlagRules
from osvi_pipeline.lib.notify_targets import Target, parse_targets
from osvi_pipeline.lib.pii_rules import PiiRules
from osvi_pipeline.warehouse.masking import register_functions
from osvi_pipeline.warehouse.storage_format import STORAGE_SETTING, convert_if_newer, wanted_version

# Every asset that writes the warehouse is in this pool; the shipped dagster.yaml limits it to
# one run at a time because a DuckDB file has a single writer.
WAREHOUSE_POOL = "duckdb_warehouse"


class WarehouseDuckDB(DuckDBResource):
    """The DuckDB resource of the working warehouse, holding its run lock while a run lasts.

    The pool in dagster.yaml serializes the runs Dagster's daemon launches; `osvi materialize`
    runs in-process, outside it. Without the lock, two such runs interleave step by step and
    one fails when a step outlasts DuckDB's ~100 s of connection retries. Runs execute in one
    process, so the resource is set up once per run: the lock spans the run, and a run killed
    -9 releases it with its process.

    The database is opened once per run too, and each step gets a cursor on it: opening the
    file and checkpointing it on close at every step cost ~30 ms a step, and the pages a step
    read stay cached for the next. Cursors are connections of their own (temp tables, macros
    and variables do not leak between steps); the file is checkpointed when the run ends.
    """

    run_lock: str
    _held: IO[bytes] | None = PrivateAttr(default=None)
    _database: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _open: ExitStack = PrivateAttr(default_factory=ExitStack)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        lock = Path(self.run_lock)
        lock.parent.mkdir(parents=True, exist_ok=True)  # data/pipeline/ deleted for a rebuild
        handle = open(lock, "ab")  # noqa: SIM115 - held until teardown
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if context.log:  # a warning, so that `osvi materialize` shows it too
                context.log.warning("another run is writing the warehouse: waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        self._held = handle
        was = convert_if_newer(Path(self.database), self.connection_config)
        if was and context.log:
            context.log.info(f"converted the warehouse from DuckDB storage {was} to "
                             f"{wanted_version(self.connection_config)}")
        # DuckDBResource's own way to open it (its retries, its config), held for the run.
        self._database = self._open.enter_context(super().get_connection())

    @contextmanager
    def get_connection(self, masking: PiiRules | None = None
                       ) -> Iterator[duckdb.DuckDBPyConnection]:
        """`masking`: the OSVI_PII=mask rules, when the step's SQL calls the masking functions.
        They are registered on the run's own connection: DuckDB keeps a function in the
        database after the cursor that registered it is closed, and calling it then fails."""
        if self._database is None:  # used outside a run
            with super().get_connection() as connection:
                if masking is not None:
                    register_functions(connection, masking)
                yield connection
            return
        if masking is not None:
            register_functions(self._database, masking)  # once: later calls find them
        cursor = self._database.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._open.close()  # the last connection: DuckDB checkpoints the file
        self._database = None
        if self._held is not None:
            self._held.close()  # releases the lock
            self._held = None


class OsviOptions(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The settings the assets, checks and sensor read, as Dagster shows them in the UI. No
    defaults of its own: `from_settings` fills every field from `Settings`."""

    landing_url: str  # a folder or s3://bucket/prefix (OSVI_LANDING_URL)
    publish_url: str | None
    published_warehouse: str
    daily_reports_dir: str
    quarantine_dir: str
    erasure_dir: str
    retained_dir: str
    retention_days: int | None
    integrations_file: str | None
    timezone: str
    campaign_keys: list[str]
    pii: str
    pii_phone_keys: str
    pii_name_keys: str
    report_base_url: str | None
    notify_attempts: int
    notify_backoff_seconds: float
    flag_min_rate_change: float
    flag_min_count_change: float
    flag_min_day_count: int
    flag_min_baseline_count: int
    flag_fdr: float

    @classmethod
    def from_settings(cls, settings: Settings) -> OsviOptions:
        layout = settings.layout
        same_names = {name: getattr(settings, name) for name in (
            "publish_url", "timezone", "pii", "pii_phone_keys", "pii_name_keys",
            "report_base_url", "notify_attempts", "notify_backoff_seconds",
            "flag_min_rate_change", "flag_min_count_change", "flag_min_day_count",
            "flag_min_baseline_count", "flag_fdr")}
        return cls(landing_url=settings.landing_location,
                   published_warehouse=str(layout.warehouse_path),
                   daily_reports_dir=str(layout.daily_reports_dir),
                   quarantine_dir=str(layout.quarantine_dir),
                   erasure_dir=str(layout.erasure_dir),
                   retained_dir=str(layout.retained_dir),
                   retention_days=settings.retention_days,
                   integrations_file=(str(layout.integrations_path)
                                      if layout.integrations_path else None),
                   campaign_keys=settings.campaign_key_list, **same_names)

    @property
    def flag_rules(self) -> FlagRules:
        return FlagRules(min_day_count=self.flag_min_day_count,
                         min_baseline_count=self.flag_min_baseline_count,
                         min_rate_change=self.flag_min_rate_change,
                         min_count_change=self.flag_min_count_change, fdr=self.flag_fdr)

    @property
    def landing(self) -> LandingStore:
        return open_landing_store(self.landing_url, Path(self.quarantine_dir))

    @property
    def erasures(self) -> ErasureLedger:
        """`osvi forget`'s tombstones, which every load honours."""
        return ErasureLedger(Path(self.erasure_dir))

    @property
    def preview_rules(self) -> PiiRules:
        """Previews in Dagster's run history are masked whatever OSVI_PII says: the run
        history then holds no personal data, and an erasure need not touch it."""
        return PiiRules(self.pii_phone_keys, self.pii_name_keys)

    @property
    def pii_rules(self) -> PiiRules | None:
        """The masking rules when OSVI_PII=mask, else None."""
        if self.pii != "mask":
            return None
        return PiiRules(self.pii_phone_keys, self.pii_name_keys)


class NotifyTargets(dg.ConfigurableResource):  # type: ignore[type-arg]
    """OSVI_NOTIFY_URLS. Built from the environment variable by name when it is set there, so
    the Dagster UI shows the variable, never the URLs (they carry tokens and passwords)."""

    urls: str | None = None

    @property
    def targets(self) -> list[Target]:
        return parse_targets(self.urls)


def _notify_urls(settings: Settings) -> str | dg.EnvVar | None:
    if settings.notify_urls and setting_sources(settings)["notify_urls"] == "environment":
        return dg.EnvVar("OSVI_NOTIFY_URLS")
    return settings.notify_urls


def build_resources(settings: Settings) -> dict[str, object]:
    return {
        "duckdb": WarehouseDuckDB(
            database=str(settings.layout.pipeline_warehouse_path),  # private: see publish.py
            run_lock=str(settings.layout.pipeline_run_lock_path),  # its folder made per run
            # Bounded memory whatever the history's size: DuckDB spills to disk beyond it.
            connection_config={"memory_limit": settings.duckdb_memory_limit,
                               # Readable by the analysts' older DuckDB (see storage_format.py).
                               STORAGE_SETTING: settings.duckdb_storage_version,
                               "preserve_insertion_order": False,
                               "temp_directory": str(settings.layout.duckdb_temp_dir)},
        ),
        "osvi": OsviOptions.from_settings(settings),
        "notify": NotifyTargets(urls=_notify_urls(settings)),
        **_export_resources(settings),
    }


def _export_resources(settings: Settings) -> dict[str, object]:
    """dagster-dlt's runner for the export assets, only with destinations (its import costs
    every run worker ~0.35 s)."""
    if not settings.export_destination_list:
        return {}
    from dagster_dlt import DagsterDltResource

    return {"dlt": DagsterDltResource()}
