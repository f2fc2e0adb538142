"""Configuration: every `OSVI_*` setting, its section, default, meaning and whether it is a
secret, in one place (docs/configuration.md is generated from this module, `osvi config` prints
it). Read from the environment, and from the dotenv file named by `OSVI_ENV_FILE` (the
environment wins), validated at start. Every path under `OSVI_DATA_DIR` is `DataLayout`'s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from osvi_core.secrets import PostgresUrlError, check_postgres_url

ENV_PREFIX = "OSVI_"
ENV_FILE_VARIABLE = "OSVI_ENV_FILE"
DEFAULT_CAMPAIGN_KEYS = "campaign,campaign_name,campaign_id,meta.campaign_id"
# Keys holding personal data (comma-separated globs, case and `_`/`-`/spaces ignored).
DEFAULT_PHONE_KEYS = ("phone,phone_number,phone_no,*_phone,*_phone_number,mobile,mobile_number,"
                      "mobile_no,*_mobile,msisdn,whatsapp,whatsapp_number,contact_number,"
                      "alternate_number,caller_id")
DEFAULT_NAME_KEYS = ("name,person_name,full_name,first_name,middle_name,last_name,surname,"
                     "customer_name,caller_name,contact_name,lead_name,patient_name,client_name,"
                     "parent_name,guardian_name,student_name,applicant_name,borrower_name,"
                     "nominee_name,father_name,mother_name,spouse_name")


# Object stores bill and list per object: a segment every 15 s keeps a replica's busy day to
# at most 5,760 objects (docs/benchmarks.md, "Landing on object storage").
OBJECT_STORE_SEGMENT_SECONDS = 15.0
# /readyz turns unready when the unpublished backlog passes this share of its bound, so a load
# balancer moves traffic away before the replica has to answer 503.
READY_BACKLOG_SHARE = 0.8
# A TCP port, checked like every other setting.
Port = Annotated[int, Field(gt=0, lt=65536)]


class Section(StrEnum):
    """Groups of settings, in the order docs/configuration.md and `osvi config` show them."""

    general = "general"
    ingest = "ingest"
    landing = "landing"
    pipeline = "pipeline"
    production = "production"
    explorer = "explorer"
    export = "export"
    notify = "notify"
    flags = "flags"
    privacy = "privacy"


def setting(default: Any, section: Section, meaning: str, *, secret: bool = False,
            **constraints: Any) -> Any:
    """A field with its section and meaning (shown by `osvi config` and the generated docs).
    A secret is left out of repr and shown as *** everywhere it is printed."""
    return Field(default=default, description=meaning, repr=not secret,
                 json_schema_extra={"section": section.value, "secret": secret}, **constraints)


class Settings(BaseSettings):
    """Everything the ingest API, the pipeline, the CLI and the explorer read from the
    environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # general
    data_dir: Path = setting(Path("./data"), Section.general,
                             "Root of everything the project writes: landing, the warehouse, "
                             "reports, DAGSTER_HOME.")
    timezone: str = setting("UTC", Section.general,
                            "IANA time zone that defines a reporting day (`call_date`, "
                            "partitions, the daily schedule).")
    log_level: Literal["debug", "info", "warning", "error"] = setting(
        "info", Section.general,
        "How much `osvi up` prints. `info`: start-up lines, one line per run, warnings and "
        "errors; `debug` (or `--verbose`): also Dagster's daemon and sensor chatter.")

    # ingest
    host: str = setting("127.0.0.1", Section.ingest,
                        "Interface the ingest API and the Dagster UI bind (`osvi serve`, "
                        "`osvi up`); loopback unless told.")
    port: Port = setting(8000, Section.ingest, "The ingest API's TCP port.")
    ingest_token: str | None = setting(
        None, Section.ingest,
        "Token accepted for every integration name when no integrations file is used; unset: "
        "generated on first start into `$OSVI_DATA_DIR/ingest-token` (mode 0600).", secret=True)
    integrations: Path | None = setting(
        None, Section.ingest,
        "The integrations file (per-integration tokens, templates); unset: "
        "`$OSVI_DATA_DIR/integrations.yaml` when it exists.")
    delivery_log: bool = setting(
        True, Section.ingest,
        "One JSON line per delivery on stderr (id, integration, status, bytes, latency; never a "
        "token or a body). `osvi up` turns it off unless `--verbose` or set here.")
    max_body_bytes: int = setting(1_048_576, Section.ingest, "Larger bodies get 413.", gt=0)
    max_header_bytes: int = setting(16_384, Section.ingest,
                                    "All request headers together (names and values); "
                                    "beyond it: 431.", gt=0)
    batch_max_rows: int = setting(256, Section.ingest,
                                  "Group commit: a flush after this many deliveries...", gt=0)
    batch_max_wait_ms: float = setting(0.5, Section.ingest,
                                       "...or after this many milliseconds.", ge=0)
    queue_max: int = setting(10_000, Section.ingest,
                             "Deliveries waiting for a flush; beyond it the API answers 503.",
                             gt=0)
    retry_after_seconds: int = setting(5, Section.ingest, "`Retry-After` of a 503.", gt=0)
    rate_limit_per_integration: float = setting(
        0, Section.ingest,
        "Deliveries a second per integration (bursts of twice that); 0 turns the limit off.",
        ge=0)
    request_timeout_seconds: float = setting(
        15, Section.ingest, "A body must arrive within this (OSVI itself gives up after 15 s).",
        gt=0)

    # landing
    landing_url: str | None = setting(
        None, Section.landing,
        "Where landing Parquet lives: a folder (default `$OSVI_DATA_DIR/landing`) or "
        "`s3://bucket/prefix` on S3-compatible storage (endpoint and credentials from the "
        "standard `AWS_*` variables).")
    journal_segment_seconds: float | None = setting(
        None, Section.landing,
        "The journal is published to landing Parquet this often; unset: every second on a "
        f"local disk, every {OBJECT_STORE_SEGMENT_SECONDS:.0f} s on object storage.", gt=0)
    journal_segment_rows: int = setting(20_000, Section.landing,
                                        "...or every this many deliveries.", gt=0)
    backlog_max_bytes: int = setting(
        1 << 30, Section.landing,
        "Acknowledged deliveries not yet published to landing; past this the API answers 503 "
        f"(and `/readyz` is unready from {READY_BACKLOG_SHARE:.0%} of it).", gt=0)
    replica_id: str | None = setting(
        None, Section.landing,
        "This replica's name in landing object names; unset: a random one kept in the data "
        "dir.", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    # pipeline
    warehouse: Path | None = setting(
        None, Section.pipeline,
        "The DuckDB file analysts open read-only; unset: `$OSVI_DATA_DIR/warehouse.duckdb`.")
    publish_url: str | None = setting(
        None, Section.pipeline,
        "Also publish each run's analyst warehouse there (`s3://bucket/key.duckdb`), for "
        "`ATTACH` from analysts' machines.")
    campaign_keys: str = setting(
        DEFAULT_CAMPAIGN_KEYS, Section.pipeline,
        "Where in `call_trigger_data` the campaign is looked for, first non-empty wins.")
    first_day: date | None = setting(
        None, Section.pipeline,
        "The first daily partition (an `OSVI_TIMEZONE` day); unset: the day of the earliest "
        "delivery in landing (imported history included), or today when nothing has landed.")
    duckdb_memory_limit: str = setting("1GB", Section.pipeline,
                                       "The pipeline's DuckDB memory limit (it spills to disk "
                                       "beyond it).")
    duckdb_storage_version: str = setting(
        "v1.4.0", Section.pipeline,
        "The DuckDB storage format of the warehouse files: the oldest DuckDB release that can "
        "open them (analysts' CLIs and BI drivers often lag the pipeline's DuckDB 2.x; "
        "`latest` is 2.x's own format; docs/warehouse.md, \"Which DuckDB can open it\").")
    sensor_interval_seconds: int = setting(
        3, Section.pipeline,
        "How often the landing sensor looks for new landing files. Each look lists only what "
        "may have changed (a folder's day folders by modification time; a bucket's from a week "
        "before its last look); a run is launched only for a day with new files and no run of "
        "it already queued, and warehouse runs go one at a time, so a short interval starts "
        "the next run as soon as the previous one ends. Its runs append only the new files.",
        ge=1)

    # production (Dagster's processes)
    dagster_port: Port = setting(3000, Section.production, "The Dagster UI's port.")
    code_server_host: str = setting(
        "127.0.0.1", Section.production,
        "`osvi up --production`: the gRPC code server's interface (where the daemon and "
        "webservers reach it).")
    code_server_port: Port = setting(4000, Section.production, "The code server's gRPC port.")
    dagster_postgres_url: str | None = setting(
        None, Section.production,
        "`postgresql://user:password@host:5432/database`: Dagster's run, event and schedule "
        "storage on PostgreSQL (unset: SQLite under `$OSVI_DATA_DIR/dagster`). Percent-encode "
        "`@ : / % ? #` in the user or password (`p@ss` is `p%40ss`).", secret=True)

    # explorer
    explorer_host: str = setting(
        "127.0.0.1", Section.explorer,
        "Interface the campaign explorer binds (`osvi explore`, `osvi up`): anything but "
        "loopback needs `OSVI_EXPLORER_PASSWORD`.")
    explorer_port: Port = setting(8080, Section.explorer, "The campaign explorer's port.")
    explorer_password: str | None = setting(
        None, Section.explorer,
        "The explorer's login (HTTP Basic, any user name); without it the explorer refuses "
        "to listen on anything but loopback.", secret=True, min_length=8)

    # export
    export_destinations: str | None = setting(
        None, Section.export,
        "Comma-separated dlt destination names (`postgres`, `filesystem`, `bigquery`, "
        "`snowflake`, `motherduck`, …) that receive the warehouse's tables after each run, "
        "each configured the dlt way (`DESTINATION__POSTGRES__CREDENTIALS`, "
        "`DESTINATION__FILESYSTEM__BUCKET_URL`, … or `$OSVI_DATA_DIR/.dlt/secrets.toml`).",
        pattern=r"^\s*[a-z][a-z0-9_]*(\s*,\s*[a-z][a-z0-9_]*)*\s*$")
    export_dataset: str = setting(
        "osvi", Section.export,
        "The dataset (PostgreSQL schema, BigQuery dataset, folder) the export writes.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    export_table_format: Literal["iceberg", "files"] = setting(
        "iceberg", Section.export,
        "How the `filesystem` destination writes tables: `iceberg` (Apache Iceberg tables, "
        "read by Trino, Athena, Spark, Snowflake, DuckDB) or `files` (plain Parquet files per "
        "load). Either way a changed table is rewritten whole.")
    export_max_lag_minutes: float = setting(
        30.0, Section.export,
        "The `export_lag` warning check fails when a destination holds a publication older "
        "than this while a newer one waits.", gt=0)

    # notify
    notify_urls: str | None = setting(
        None, Section.notify,
        "Apprise URLs (comma- or space-separated: `slack://…`, `mailtos://…`, `msteams://…`, "
        "`json://host/path`) that receive each day's summary.", secret=True)
    report_base_url: str | None = setting(
        None, Section.notify,
        "Where `$OSVI_DATA_DIR/reports/` is served (`https://intranet/osvi`): chat messages "
        "then link to `<base>/daily/YYYY-MM-DD.html`.")
    notify_attempts: int = setting(3, Section.notify, "Tries per target that fails.", ge=1)
    notify_backoff_seconds: float = setting(5.0, Section.notify,
                                            "Seconds before the first retry (doubling).", ge=0)

    # flags
    flag_min_rate_change: float = setting(
        0.10, Section.flags, "A proportion's flag needs at least this absolute change.", ge=0)
    flag_min_count_change: float = setting(
        0.30, Section.flags, "A daily count's flag needs at least this relative change.", ge=0)
    flag_min_day_count: int = setting(20, Section.flags,
                                      "Calls (or answers) a day needs to be tested.", ge=1)
    flag_min_baseline_count: int = setting(
        50, Section.flags, "Calls (or answers) the trailing 7 days need to be a baseline.", ge=1)
    flag_fdr: float = setting(
        0.05, Section.flags,
        "The false-discovery rate controlled across a day's flag tests (Benjamini-Hochberg): "
        "`campaign_flags.flagged` holds after the control, `significant` is each test alone.",
        gt=0, lt=1)

    # privacy
    pii: Literal["keep", "mask"] = setting(
        "keep", Section.privacy,
        "Personal data in the analysts' warehouse: `keep` as received, or `mask` phone numbers "
        "and person names (landing and the pipeline's private working file keep the raw data).")
    pii_phone_keys: str = setting(DEFAULT_PHONE_KEYS, Section.privacy,
                                  "Keys holding phone numbers (comma-separated globs; case and "
                                  "`_`/`-`/spaces ignored).")
    pii_name_keys: str = setting(DEFAULT_NAME_KEYS, Section.privacy,
                                 "Keys holding person names (same form).")
    retention_days: int | None = setting(
        None, Section.privacy,
        "Per-call data (landing, deliveries, calls and their field and wide tables, exports) "
        "older than this many days is deleted by the daily run; the aggregate marts keep their "
        "rows. Unset: keep everything.", ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown IANA time zone {value!r} (e.g. 'UTC', 'Asia/Kolkata')"
            ) from None
        return value

    @field_validator("ingest_token")
    @classmethod
    def _usable_token(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < 8:
            raise ValueError("must be at least 8 characters (or unset it to get a generated one)")
        return value.strip() if value else None

    @field_validator("duckdb_storage_version")
    @classmethod
    def _storage_version(cls, value: str) -> str:
        release = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", value)
        if value != "latest" and not release:
            raise ValueError("a DuckDB release written vX.Y.Z (e.g. v1.4.0), or 'latest'")
        if release and tuple(int(part) for part in release.groups()) < (1, 2, 0):
            raise ValueError("v1.2.0 or later: the warehouse compresses bodies with ZSTD, "
                             "which older DuckDB files cannot hold")
        return value

    @field_validator("landing_url")
    @classmethod
    def _landing_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if "://" in value and not value.startswith(("s3://", "file://")):
            raise ValueError("a folder, file:///folder or s3://bucket/prefix")
        if value.startswith("s3://") and not value.removeprefix("s3://").strip("/"):
            raise ValueError("s3:// needs a bucket, e.g. s3://my-bucket/osvi/landing")
        return value.rstrip("/")

    @field_validator("publish_url")
    @classmethod
    def _publish_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        bucket, _, key = value.strip().removeprefix("s3://").partition("/")
        if not value.startswith("s3://") or not bucket or not key or key.endswith("/"):
            raise ValueError("an object URL, e.g. s3://my-bucket/osvi/warehouse.duckdb")
        return value.strip()

    @field_validator("campaign_keys")
    @classmethod
    def _non_empty_keys(cls, value: str) -> str:
        if not [key for key in value.split(",") if key.strip()]:
            raise ValueError("needs at least one key, e.g. 'campaign,campaign_name'")
        return value

    @field_validator("dagster_postgres_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            check_postgres_url(value.strip())
        except PostgresUrlError as exc:  # the message never quotes the URL
            raise ValueError(str(exc)) from None
        return value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def landing_remote(self) -> bool:
        """Landing is on object storage (OSVI_LANDING_URL=s3://...)."""
        return self.landing_url is not None and self.landing_url.startswith("s3://")

    @property
    def landing_location(self) -> str:
        """Landing as users name it: the folder or the s3:// URL."""
        return self.landing_url if self.landing_remote and self.landing_url else str(
            self.layout.landing_dir)

    @property
    def segment_seconds(self) -> float:
        if self.journal_segment_seconds is not None:
            return self.journal_segment_seconds
        return OBJECT_STORE_SEGMENT_SECONDS if self.landing_remote else 1.0

    @property
    def layout(self) -> DataLayout:
        return DataLayout.of(self)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def export_destination_list(self) -> list[str]:
        return [name.strip() for name in (self.export_destinations or "").split(",")
                if name.strip()]

    @property
    def campaign_key_list(self) -> list[str]:
        return [key.strip() for key in self.campaign_keys.split(",") if key.strip()]


@dataclass(frozen=True)
class DataLayout:
    """Every file and folder the project keeps under OSVI_DATA_DIR (and the two that settings
    may move elsewhere: the published warehouse and a local landing folder)."""

    data_dir: Path
    landing_dir: Path  # a local landing folder (meaningless when landing is remote)
    journal_dir: Path
    quarantine_dir: Path
    warehouse_path: Path  # the analysts' published copy (OSVI_WAREHOUSE)
    pipeline_warehouse_path: Path  # the pipeline's private working file
    pipeline_run_lock_path: Path  # held (flock) by the run writing the working file
    token_file: Path
    integrations_path: Path | None  # the integrations file in use, if any
    replica_id_file: Path
    dagster_home: Path
    reports_dir: Path
    daily_reports_dir: Path
    duckdb_temp_dir: Path
    prometheus_dir: Path  # metrics of several `osvi serve --workers`
    export_dir: Path  # dlt's pipelines (state, pending loads) for OSVI_EXPORT_DESTINATIONS
    dlt_config_dir: Path  # dlt's `.dlt/` (config.toml, secrets.toml) for the destinations
    erasure_dir: Path  # `osvi forget`'s salt and ledger of tombstones (osvi_core.erasure)
    retained_dir: Path  # the marts' rows of days retention deleted (warehouse/retention.py)

    @classmethod
    def of(cls, settings: Settings) -> DataLayout:
        data = settings.data_dir
        remote = settings.landing_remote
        if settings.landing_url is None or remote:
            landing = data / "landing"
        else:
            landing = Path(settings.landing_url.removeprefix("file://"))
        pipeline = data / "pipeline"
        default_integrations = data / "integrations.yaml"
        integrations = settings.integrations or (
            default_integrations if default_integrations.exists() else None)
        return cls(
            data_dir=data, landing_dir=landing,
            # Inside a local landing folder (where earlier versions kept it), in the data dir
            # when landing is remote (journal.LOCAL_JOURNAL_DIRNAME).
            journal_dir=data / "journal" if remote else landing / "_journal",
            quarantine_dir=data / "quarantine",
            warehouse_path=settings.warehouse or data / "warehouse.duckdb",
            pipeline_warehouse_path=pipeline / "warehouse.duckdb",
            pipeline_run_lock_path=pipeline / "run.lock",
            token_file=data / "ingest-token", integrations_path=integrations,
            replica_id_file=data / "replica-id", dagster_home=data / "dagster",
            reports_dir=data / "reports", daily_reports_dir=data / "reports" / "daily",
            duckdb_temp_dir=data / "duckdb-tmp", prometheus_dir=data / "run" / "prometheus",
            export_dir=data / "export", dlt_config_dir=data / ".dlt",
            erasure_dir=data / "erasure", retained_dir=data / "retained")


class ConfigError(Exception):
    """A configuration problem, worded for the person who set the variable."""


def env_file_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The dotenv file named by OSVI_ENV_FILE (e.g. /etc/osvi/osvi.env), if any."""
    value = (os.environ if environ is None else environ).get(ENV_FILE_VARIABLE, "").strip()
    return Path(value) if value else None


def load_settings() -> Settings:
    """Read the environment (and OSVI_ENV_FILE), turning pydantic's errors into one readable
    message that never quotes a value."""
    env_file = env_file_path()
    if env_file is not None and not env_file.is_file():
        raise ConfigError(f"{ENV_FILE_VARIABLE}: {env_file} is not a readable file")
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {ENV_PREFIX}{field.upper()}: {message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None


@dataclass(frozen=True)
class SettingInfo:
    name: str  # the field
    variable: str  # OSVI_...
    section: Section
    meaning: str
    default: object
    secret: bool


def setting_infos() -> list[SettingInfo]:
    """Every setting, in section order then declaration order."""
    infos = []
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        infos.append(SettingInfo(name=name, variable=f"{ENV_PREFIX}{name.upper()}",
                                 section=Section(str(extra["section"])),
                                 meaning=field.description or "", default=field.default,
                                 secret=bool(extra.get("secret"))))
    order = list(Section)
    return sorted(infos, key=lambda info: order.index(info.section))


def setting_sources(settings: Settings, environ: Mapping[str, str] | None = None
                    ) -> dict[str, str]:
    """Where each setting's value came from: `environment`, `file` (OSVI_ENV_FILE) or
    `default` (pydantic-settings matches names regardless of case, and the environment wins
    over the file)."""
    environ = os.environ if environ is None else environ
    in_env = {key.upper() for key in environ}
    env_file = env_file_path(environ)
    in_file = ({key.upper() for key in dotenv_values(env_file)}
               if env_file is not None and env_file.is_file() else set())
    sources = {}
    for info in setting_infos():
        if info.variable in in_env:
            sources[info.name] = "environment"
        elif info.variable in in_file:
            sources[info.name] = "file"
        elif info.name in settings.model_fields_set:
            sources[info.name] = "argument"
        else:
            sources[info.name] = "default"
    return sources
