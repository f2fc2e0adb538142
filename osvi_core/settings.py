"""Configuration from `OSVI_*` environment variables (README, "Configuration"), validated at
start."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class Settings(BaseSettings):
    """Everything the ingest API and the pipeline read from the environment."""

    model_config = SettingsConfigDict(env_prefix="OSVI_", extra="ignore", frozen=True)

    data_dir: Path = Path("./data")
    warehouse: Path | None = None
    integrations: Path | None = None
    ingest_token: str | None = Field(default=None, repr=False)
    timezone: str = "UTC"
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # All request headers together (names and values); beyond it: 431.
    max_header_bytes: int = Field(default=16_384, gt=0)
    campaign_keys: str = DEFAULT_CAMPAIGN_KEYS
    # The first daily partition (an OSVI_TIMEZONE day); unset: the earliest landed day.
    first_day: date | None = None

    # Group commit: a flush happens after `batch_max_rows` rows or `batch_max_wait_ms`.
    batch_max_rows: int = Field(default=256, gt=0)
    batch_max_wait_ms: float = Field(default=0.5, ge=0)
    # Deliveries waiting for a flush; beyond this the API answers 503.
    queue_max: int = Field(default=10_000, gt=0)
    retry_after_seconds: int = Field(default=5, gt=0)
    # Deliveries a second per integration (bursts of twice that); 0 turns the limit off.
    rate_limit_per_integration: float = Field(default=0, ge=0)
    # A body must arrive within this; OSVI itself gives up after 15 s.
    request_timeout_seconds: float = Field(default=15, gt=0)
    # The journal is published to landing Parquet this often (or every N rows); unset: every
    # second on a local disk, every OBJECT_STORE_SEGMENT_SECONDS on object storage.
    journal_segment_seconds: float | None = Field(default=None, gt=0)
    journal_segment_rows: int = Field(default=20_000, gt=0)
    # Where landing Parquet lives: a local folder (default $OSVI_DATA_DIR/landing) or
    # s3://bucket/prefix on S3-compatible object storage (endpoint and credentials from the
    # standard AWS_* variables).
    landing_url: str | None = None
    # Also upload each run's analyst warehouse there (s3://bucket/key.duckdb).
    publish_url: str | None = None
    # Acknowledged deliveries not yet published to landing (the journal's closed segments);
    # past this the API answers 503, and /readyz is unready from READY_BACKLOG_SHARE of it.
    backlog_max_bytes: int = Field(default=1 << 30, gt=0)
    # This replica's name in landing object names; unset: a random one kept in the data dir.
    replica_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # The pipeline's DuckDB memory limit (it spills to disk beyond it).
    duckdb_memory_limit: str = "1GB"
    # The DuckDB storage format of the warehouse files: the oldest DuckDB release that can open
    # them. Analysts' CLIs, drivers and BI tools often lag the DuckDB the pipeline runs.
    duckdb_storage_version: str = "v1.4.0"
    # Personal data in the analysts' warehouse: `keep` as received, or `mask` phone numbers and
    # person names (landing and the pipeline's private working file always keep the raw data).
    pii: Literal["keep", "mask"] = "keep"
    pii_phone_keys: str = DEFAULT_PHONE_KEYS
    pii_name_keys: str = DEFAULT_NAME_KEYS
    # Dagster's run, event and schedule storage on PostgreSQL (`osvi up --production`); unset:
    # SQLite under $OSVI_DATA_DIR/dagster. Holds a password: never logged or written to a file.
    dagster_postgres_url: str | None = Field(default=None, repr=False)
    # How often the landing sensor looks for new files. A look is one listing; a run is
    # launched only for days with new files and no run already waiting, so a short interval
    # starts the next run as soon as the previous one ends (never two at once: the pool).
    sensor_interval_seconds: int = Field(default=3, ge=1)
    # Daily summaries: Apprise URLs (secrets: never logged), where the HTML reports are served
    # (for the link in chat messages), and how hard to try a target that fails.
    notify_urls: str | None = Field(default=None, repr=False)
    report_base_url: str | None = None
    notify_attempts: int = Field(default=3, ge=1)
    notify_backoff_seconds: float = Field(default=5.0, ge=0)
    # What a campaign flag needs: a change at least this large (a proportion's absolute
    # change; a daily count's relative change), and this many calls or answers.
    flag_min_rate_change: float = Field(default=0.10, ge=0)
    flag_min_count_change: float = Field(default=0.30, ge=0)
    flag_min_day_count: int = Field(default=20, ge=1)
    flag_min_baseline_count: int = Field(default=50, ge=1)

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

    @property
    def landing_remote(self) -> bool:
        """Landing is on object storage (OSVI_LANDING_URL=s3://...)."""
        return self.landing_url is not None and self.landing_url.startswith("s3://")

    @property
    def landing_dir(self) -> Path:
        """The local landing folder (meaningless when landing_remote)."""
        if self.landing_url is None or self.landing_remote:
            return self.data_dir / "landing"
        return Path(self.landing_url.removeprefix("file://"))

    @property
    def landing_location(self) -> str:
        """Landing as users name it: the folder or the s3:// URL."""
        return self.landing_url if self.landing_remote and self.landing_url else str(
            self.landing_dir)

    @property
    def journal_dir(self) -> Path:
        """The replica's journal: inside a local landing folder (where earlier versions kept
        it), in the data dir when landing is remote."""
        if self.landing_remote:
            return self.data_dir / "journal"
        return self.landing_dir / "_journal"  # journal.LOCAL_JOURNAL_DIRNAME

    @property
    def segment_seconds(self) -> float:
        if self.journal_segment_seconds is not None:
            return self.journal_segment_seconds
        return OBJECT_STORE_SEGMENT_SECONDS if self.landing_remote else 1.0

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse or self.data_dir / "warehouse.duckdb"

    @property
    def pipeline_warehouse_path(self) -> Path:
        """The pipeline's private working file; analysts read warehouse_path (a snapshot)."""
        return self.data_dir / "pipeline" / "warehouse.duckdb"

    @property
    def pipeline_run_lock_path(self) -> Path:
        """Held (flock) by the run writing the working file, whatever process runs it."""
        return self.pipeline_warehouse_path.with_name("run.lock")

    @property
    def token_file(self) -> Path:
        return self.data_dir / "ingest-token"

    @property
    def integrations_path(self) -> Path | None:
        """The integrations file in use: the configured one, else the data dir's when it exists."""
        if self.integrations is not None:
            return self.integrations
        default = self.data_dir / "integrations.yaml"
        return default if default.exists() else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def campaign_key_list(self) -> list[str]:
        return [key.strip() for key in self.campaign_keys.split(",") if key.strip()]


class ConfigError(Exception):
    """A configuration problem, worded for the person who set the variable."""


def load_settings() -> Settings:
    """Read the environment, turning pydantic's errors into one readable message."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  OSVI_{field.upper()}: {message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
