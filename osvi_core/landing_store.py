"""Where landing files live: a local folder, or a bucket on S3-compatible object storage.

The journal's compaction publishes through `publish`; the pipeline, its sensor and `osvi import`
list and read through the rest. Both stores keep the contract's layout,
`<landing>/received_date=YYYY-MM-DD/<name>.parquet`, and both make a file appear whole:

- local: temp name, fsync, rename, directory fsync (landing.write_landing_bytes);
- S3: one PUT (or a completed multipart upload) with `If-None-Match: *`. Names are
  deterministic (replica + journal segment), so publishing a segment again after a crash finds
  its object already there (412) instead of writing a duplicate, and two replicas never collide.

The bucket is reached through s3fs (the fsspec filesystem DuckDB can also read through), which
takes its endpoint and credentials from the standard AWS_* variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from osvi_core.fs import fsync_dir
from osvi_core.landing import PARTITION_PREFIX, quarantine_file, write_landing_bytes
from osvi_core.landing_compaction import Manifest, is_manifest, visible
from osvi_core.settings import Settings

if TYPE_CHECKING:
    import fsspec

log = logging.getLogger("osvi.landing")

QUARANTINE_PREFIX = "_quarantine"  # inside a bucket's landing prefix (never a day folder)
REMOTE_DAYS_LISTED = 7  # day folders of a bucket the sensor lists before its horizon


@dataclass(frozen=True, slots=True)
class LandingFile:
    path: str  # as readers open it: a local path, or s3://bucket/key
    day: str  # the UTC received_date folder
    name: str
    modified_ns: int
    size: int


class PublishError(Exception):
    """A landing file was not published. `reason` is a short label (the metric's), `message`
    says what happened; both are plain strings so the error crosses process boundaries."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


class LandingStoreError(Exception):
    """The store cannot be used as configured; worded for the person who set the variables.
    `reason` as PublishError's: "unreachable" may pass by itself, the others will not."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class LandingStore(ABC):
    location: str
    remote: bool

    @abstractmethod
    def publish(self, day: str, name: str, data: bytes) -> bool:
        """Make `data` the file `received_date=<day>/<name>`; False when a file of that name
        was already there (a repeated publication). Raises PublishError."""

    @abstractmethod
    def days(self) -> list[str]:
        """UTC days that hold landing files, oldest first."""

    @abstractmethod
    def days_changed_since(self, since_ns: int) -> list[str]:
        """The days that may hold files modified after `since_ns` (epoch ns): what the
        sensor lists on each look instead of every day of history."""

    def files(self, day: str, hide_superseded: bool = True) -> list[LandingFile]:
        """The day's landing files, by name. `hide_superseded`: as readers see them while a
        compaction is under way (landing_compaction.visible): every delivery once."""
        files, manifests = self.listing(day)
        if not manifests or not hide_superseded:
            return files
        return visible(files, [self.read_manifest(day, name) for name in manifests])

    @abstractmethod
    def listing(self, day: str) -> tuple[list[LandingFile], list[str]]:
        """Every Parquet file of the day (sorted by name) and the manifests' names."""

    @abstractmethod
    def read_manifest(self, day: str, name: str) -> Manifest: ...

    @abstractmethod
    def write_manifest(self, day: str, manifest: Manifest) -> None: ...

    @abstractmethod
    def remove(self, day: str, name: str) -> None:
        """Delete a file of the day folder (gone already: nothing to do)."""

    @abstractmethod
    def path_of(self, day: str, name: str) -> str:
        """A file's path as `files` gives it."""

    @abstractmethod
    def open(self, path: str) -> IO[bytes]:
        """A landing file for reading (a path `files` returned)."""

    @abstractmethod
    def quarantine(self, file: str, category: str, reason: str) -> str:
        """Move a file the pipeline cannot load out of the day folders; return where to."""

    @abstractmethod
    def check(self) -> None:
        """Raise LandingStoreError unless files can be published here."""

    @abstractmethod
    def replace(self, file: LandingFile, name: str, data: bytes | None) -> str | None:
        """Rewrite `file` (`osvi forget`, retention): `data` as `name` in the same day folder
        (None: nothing is left), then `file` removed; return the new path. The new file appears
        whole before the old one goes, so a crash in between leaves both, and repeating the
        call with the same `name` writes the same file again instead of a third."""

    def filesystem(self) -> fsspec.AbstractFileSystem | None:
        """The fsspec filesystem readers register with DuckDB (None: plain local paths)."""
        return None


class LocalLandingStore(LandingStore):
    remote = False

    def __init__(self, directory: Path, quarantine_dir: Path) -> None:
        self.directory = directory
        self.quarantine_dir = quarantine_dir
        self.location = str(directory)

    def publish(self, day: str, name: str, data: bytes) -> bool:
        try:
            write_landing_bytes(self.directory, day, name, data)
        except OSError as exc:
            raise PublishError("disk", f"{self.directory}: {exc.strerror or exc}") from exc
        return True

    def days(self) -> list[str]:
        return sorted(path.name.removeprefix(PARTITION_PREFIX)
                      for path in self.directory.glob(f"{PARTITION_PREFIX}*")
                      if any(path.glob("*.parquet")))

    def days_changed_since(self, since_ns: int) -> list[str]:
        # A file appears by a rename into its day folder, which updates the folder's mtime
        # (never earlier than the file's own): one stat per day, not per file.
        changed = []
        for folder in self.directory.glob(f"{PARTITION_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if folder.stat().st_mtime_ns > since_ns:
                    changed.append(folder.name.removeprefix(PARTITION_PREFIX))
        return sorted(changed)

    def listing(self, day: str) -> tuple[list[LandingFile], list[str]]:
        files, manifests = [], []
        try:
            entries = list(os.scandir(self.directory / f"{PARTITION_PREFIX}{day}"))
        except FileNotFoundError:
            return [], []
        for entry in entries:
            if entry.name.endswith(".parquet"):
                with contextlib.suppress(FileNotFoundError):  # quarantined meanwhile
                    stat = entry.stat()
                    files.append(LandingFile(entry.path, day, entry.name, stat.st_mtime_ns,
                                             stat.st_size))
            elif is_manifest(entry.name):
                manifests.append(entry.name)
        return sorted(files, key=lambda file: file.name), manifests

    def read_manifest(self, day: str, name: str) -> Manifest:
        return Manifest.decode(name, Path(self.path_of(day, name)).read_bytes())

    def write_manifest(self, day: str, manifest: Manifest) -> None:
        write_landing_bytes(self.directory, day, manifest.name, manifest.encode())

    def remove(self, day: str, name: str) -> None:
        path = Path(self.path_of(day, name))
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)

    def path_of(self, day: str, name: str) -> str:
        return str(self.directory / f"{PARTITION_PREFIX}{day}" / name)

    def open(self, path: str) -> IO[bytes]:
        return open(path, "rb")  # the caller closes it

    def quarantine(self, file: str, category: str, reason: str) -> str:
        return str(quarantine_file(Path(file), self.quarantine_dir / category, reason))

    def replace(self, file: LandingFile, name: str, data: bytes | None) -> str | None:
        written = None
        if data is not None:
            written = str(write_landing_bytes(self.directory, file.day, name, data))
        if written != file.path:
            self.remove(file.day, file.name)
        return written

    def check(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LandingStoreError(f"OSVI_LANDING_URL: cannot create {self.directory}: "
                                    f"{exc.strerror or exc}") from None


class S3LandingStore(LandingStore):
    remote = True

    def __init__(self, url: str) -> None:
        self.location = url.rstrip("/")
        bucket_and_prefix = self.location.removeprefix("s3://")
        self.bucket = bucket_and_prefix.split("/", 1)[0]
        self.root = bucket_and_prefix  # s3fs paths: bucket/prefix
        self._fs: Any = None

    def __getstate__(self) -> dict[str, object]:  # crosses to the compactor process
        return {**self.__dict__, "_fs": None}

    def filesystem(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            import s3fs  # only needed with object storage; keeps local start-up lean

            # No listing cache: the sensor must see objects published a moment ago.
            self._fs = s3fs.S3FileSystem(
                use_listings_cache=False, skip_instance_cache=True,
                config_kwargs={"connect_timeout": 5, "read_timeout": 60,
                               "retries": {"max_attempts": 2}})
        fs: fsspec.AbstractFileSystem = self._fs
        return fs

    def publish(self, day: str, name: str, data: bytes) -> bool:
        key = f"{self.root}/{PARTITION_PREFIX}{day}/{name}"
        try:
            self.filesystem().pipe_file(key, data, mode="create")
        except FileExistsError:
            return False
        except Exception as exc:  # every failure: classified, retried
            raise _publish_error(exc, self.location) from None
        return True

    def days(self) -> list[str]:
        try:
            entries = self.filesystem().ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        return sorted(name.rsplit("/", 1)[-1].removeprefix(PARTITION_PREFIX) for name in entries
                      if name.rsplit("/", 1)[-1].startswith(PARTITION_PREFIX))

    def days_changed_since(self, since_ns: int) -> list[str]:
        # Prefixes have no modification time: the last week's folders (a replica's backlog
        # after a long outage lands in its receipt day). Older days, e.g. from `osvi import`,
        # are loaded by `osvi materialize` or a UI backfill.
        since = datetime.fromtimestamp(since_ns / 1e9, UTC).date() - timedelta(
            days=REMOTE_DAYS_LISTED)
        return [day for day in self.days() if day >= since.isoformat()]

    def listing(self, day: str) -> tuple[list[LandingFile], list[str]]:
        try:
            entries = self.filesystem().ls(f"{self.root}/{PARTITION_PREFIX}{day}", detail=True)
        except FileNotFoundError:
            return [], []
        files, manifests = [], []
        for entry in entries:
            name = str(entry["name"]).rsplit("/", 1)[-1]
            if entry.get("type") != "file":
                continue
            if is_manifest(name):
                manifests.append(name)
            elif name.endswith(".parquet"):
                modified = entry.get("LastModified") or datetime.now(UTC)
                files.append(LandingFile(f"s3://{entry['name']}", day, name,
                                         int(modified.timestamp() * 1e9),
                                         int(entry.get("size", 0))))
        return sorted(files, key=lambda file: file.name), manifests

    def read_manifest(self, day: str, name: str) -> Manifest:
        data = self.filesystem().cat_file(self.path_of(day, name).removeprefix("s3://"))
        return Manifest.decode(name, bytes(data))

    def write_manifest(self, day: str, manifest: Manifest) -> None:
        self.filesystem().pipe_file(self.path_of(day, manifest.name).removeprefix("s3://"),
                                    manifest.encode())

    def remove(self, day: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filesystem().rm_file(self.path_of(day, name).removeprefix("s3://"))

    def path_of(self, day: str, name: str) -> str:
        return f"s3://{self.root}/{PARTITION_PREFIX}{day}/{name}"

    def open(self, path: str) -> IO[bytes]:
        handle: IO[bytes] = self.filesystem().open(path.removeprefix("s3://"), "rb")
        return handle

    def quarantine(self, file: str, category: str, reason: str) -> str:
        source = file.removeprefix("s3://")
        day_folder, name = source.rsplit("/", 2)[-2:]
        target = f"{self.root}/{QUARANTINE_PREFIX}/{category}/{day_folder}-{name}"
        fs = self.filesystem()
        fs.copy(source, target)
        fs.pipe_file(f"{target}.reason.txt", (reason + "\n").encode())
        fs.rm_file(source)
        log.warning("quarantined s3://%s -> s3://%s: %s", source, target, reason)
        return f"s3://{target}"

    def replace(self, file: LandingFile, name: str, data: bytes | None) -> str | None:
        fs = self.filesystem()
        written = None
        if data is not None:
            key = f"{self.root}/{PARTITION_PREFIX}{file.day}/{name}"
            with contextlib.suppress(FileExistsError):  # written by an interrupted attempt
                fs.pipe_file(key, data, mode="create")
            written = f"s3://{key}"
        if written != file.path:
            self.remove(file.day, file.name)
        return written

    def check(self) -> None:
        try:
            self.filesystem().call_s3("head_bucket", Bucket=self.bucket)
        except Exception as exc:  # worded for the operator
            error = _publish_error(exc, self.location)
            advice = _CHECK_ADVICE.get(error.reason, "OSVI_LANDING_URL={url}: {error}")
            raise LandingStoreError(advice.format(url=self.location, bucket=self.bucket,
                                                  error=error.message), error.reason) from None


_CHECK_ADVICE = {
    "no_such_bucket": "OSVI_LANDING_URL={url}: the bucket {bucket!r} does not exist (create it, "
                      "or fix the URL)",
    "access_denied": "OSVI_LANDING_URL={url}: the credentials were refused "
                     "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the role's policy): {error}",
    "unreachable": "OSVI_LANDING_URL={url}: the object store cannot be reached "
                   "(AWS_ENDPOINT_URL, network): {error}",
}


def _publish_error(exc: BaseException, location: str) -> PublishError:
    """Classify an s3fs/botocore failure: the reason labels the failure metric."""
    code = ""
    response = getattr(exc, "response", None) or getattr(exc.__cause__, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    text = f"{type(exc).__name__}: {exc}"
    if code in ("NoSuchBucket", "404") or isinstance(exc, FileNotFoundError):
        return PublishError("no_such_bucket", text)
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403") \
            or isinstance(exc, PermissionError):
        return PublishError("access_denied", text)
    if code in ("SlowDown", "503", "ServiceUnavailable"):
        return PublishError("throttled", text)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"EndpointConnectionError", "ConnectionClosedError", "ClientConnectorError",
                "ServerDisconnectedError", "ConnectTimeoutError", "ReadTimeoutError",
                "ConnectionError", "TimeoutError", "ClientOSError"}:
        return PublishError("unreachable", text)
    return PublishError("error", f"{location}: {text}")


def landing_store_for(settings: Settings) -> LandingStore:
    """The store OSVI_LANDING_URL names (its quarantine folder for a local one)."""
    return open_landing_store(settings.landing_location, settings.layout.quarantine_dir)


def open_landing_store(location: str, quarantine_dir: Path) -> LandingStore:
    """The store for a location as Settings resolves it (a folder or s3://...)."""
    if location.startswith("s3://"):
        return S3LandingStore(location)
    return LocalLandingStore(Path(location.removeprefix("file://")), quarantine_dir)


def iter_landing_files(store: LandingStore, days: list[str] | None = None
                       ) -> Iterator[LandingFile]:
    for day in store.days() if days is None else days:
        yield from store.files(day)


def replica_name(path: Path, configured: str | None) -> str:
    """OSVI_REPLICA_ID, else a random name kept in the data dir: it survives restarts on the
    same disk (so a segment published again keeps its object name), and two replicas with
    their own disks never share one."""
    if configured:
        return configured
    with contextlib.suppress(FileNotFoundError):
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    name = f"r{secrets.token_hex(4)}"
    temp = path.with_name(f".replica-id.{os.getpid()}.tmp")
    temp.write_text(name + "\n", encoding="utf-8")
    with contextlib.suppress(FileExistsError):
        os.link(temp, path)  # first writer wins, even between workers starting together
    temp.unlink()
    return path.read_text(encoding="utf-8").strip()
