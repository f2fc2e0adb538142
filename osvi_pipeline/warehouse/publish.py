"""Publishing the warehouse analysts read.

A DuckDB file held read-write by one process cannot be opened at all by another, not even
read-only. So the pipeline writes a private working file ($OSVI_DATA_DIR/pipeline/), brings a
private copy up to date (published_copy.py) and, at the end of each run, makes OSVI_WAREHOUSE
that copy with an atomic rename. Analysts (DuckDB CLI, Python, BI tools) open OSVI_WAREHOUSE
read-only at any moment: a connection keeps the snapshot it opened, and a new one sees the latest
complete run; never a lock error, never half a day.

With OSVI_PUBLISH_URL the same file is also uploaded to object storage (upload_snapshot), for
analysts who ATTACH it from their own machines.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from osvi_core.fs import fsync_dir, process_alive


def publish_snapshot(working: Path, published: Path) -> int:
    """Copy the (checkpointed) working file to a temp file, fsync it, rename it over
    `published`; return bytes."""
    published.parent.mkdir(parents=True, exist_ok=True)
    for stale in published.parent.glob(f".{published.name}.*.tmp"):  # from killed runs
        pid = stale.name.removeprefix(f".{published.name}.").removesuffix(".tmp")
        if pid.isdigit() and not process_alive(int(pid)):
            stale.unlink(missing_ok=True)
    temp = published.with_name(f".{published.name}.{os.getpid()}.tmp")
    try:
        copy_file(working, temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, published)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(published.parent)
    return published.stat().st_size


def link_published(copy: Path, published: Path) -> int:
    """Make `published` a hard link to the (checkpointed) `copy`, atomically; return bytes.
    Where a link cannot be made (OSVI_WAREHOUSE on another filesystem), a copy is published
    instead, as publish_snapshot does."""
    published.parent.mkdir(parents=True, exist_ok=True)
    temp = published.with_name(f".{published.name}.{os.getpid()}.link")
    temp.unlink(missing_ok=True)
    try:
        os.link(copy, temp)
    except OSError:  # EXDEV across filesystems, EPERM where links are not allowed
        return publish_snapshot(copy, published)
    try:
        os.replace(temp, published)
    finally:
        temp.unlink(missing_ok=True)  # left when `published` was that link already
    fsync_dir(published.parent)
    return published.stat().st_size


def copy_file(source: Path, target: Path) -> None:
    """Copy with copy_file_range: Linux clones the extents instead when both files are on one
    XFS (reflink) or btrfs filesystem, so publishing costs the same whatever the history's
    size; elsewhere it is an in-kernel copy. Falls back to shutil where the call is refused
    (another filesystem, an old kernel, no such call)."""
    try:
        with open(source, "rb") as reader, open(target, "wb") as writer:
            remaining = os.fstat(reader.fileno()).st_size
            while remaining > 0:
                copied = os.copy_file_range(reader.fileno(), writer.fileno(), remaining)
                if copied == 0:  # the source shrank under us: copy what there is
                    break
                remaining -= copied
    except (OSError, AttributeError):
        shutil.copyfile(source, target)


def upload_snapshot(published: Path, url: str) -> int:
    """Upload the published file to `url` (s3://bucket/key.duckdb); return bytes.

    An object is replaced whole: a single PUT, or for a large file a multipart upload that
    becomes visible only when completed, so a reader attaching meanwhile gets the previous
    run's file or this one, never a mix. The endpoint and credentials are the AWS_* variables.
    """
    import s3fs  # only with OSVI_PUBLISH_URL

    filesystem = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    filesystem.put_file(str(published), url.removeprefix("s3://"))
    return published.stat().st_size
