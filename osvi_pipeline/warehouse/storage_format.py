"""The DuckDB storage format of the warehouse files (OSVI_DUCKDB_STORAGE_VERSION).

DuckDB writes new files in its newest format unless told otherwise, and a file in a newer
format than a reader knows cannot be opened at all ("Trying to read a database file with
version number 69, but we can only read versions between 64 and 68"). Analysts open the
published warehouse with their own DuckDB CLI, driver or BI tool, which often lag the DuckDB the
pipeline runs, so the pipeline writes an older format: new files are created in it (the
connection's `storage_compatibility_version`), and a file written before in a newer format is
converted once, since DuckDB keeps a file's format for its lifetime.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb

from osvi_pipeline.lib.sql_names import sql_text

# The connection setting that makes DuckDB create files (and attached ones) in a given format.
STORAGE_SETTING = "storage_compatibility_version"


def parse_version(text: str) -> tuple[int, ...] | None:
    """(1, 4, 0) from 'v1.4.0' or DuckDB's tag 'v1.4.0+'; None for anything else ('latest')."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)\+?", text)
    return tuple(int(part) for part in match.groups()) if match else None


def is_newer_than_wanted(file_version: str, wanted: str) -> bool:
    """Whether a file in `file_version` (DuckDB's tag) must be converted for `wanted`.

    Only a newer format is converted: an older one opens in every reader a newer one does, and
    'latest' asks for no conversion at all.
    """
    have, want = parse_version(file_version), parse_version(wanted)
    return have is not None and want is not None and have > want


def storage_version_of(database: Path) -> str | None:
    """DuckDB's storage tag of an existing file ('v2.0.0+'), or None when there is no file."""
    if not database.exists():
        return None
    with duckdb.connect() as con:
        con.execute(f"attach {sql_text(str(database))} as probed (read_only)")
        row = con.execute("select tags['storage_version'] from duckdb_databases() "
                          "where database_name = 'probed'").fetchone()
    return str(row[0]) if row and row[0] else None


def wanted_version(config: dict[str, Any]) -> str:
    """The format a connection with this config creates files in."""
    return str(config.get(STORAGE_SETTING, "latest"))


def convert_if_newer(database: Path, config: dict[str, Any]) -> str | None:
    """Rewrite `database` in the format the connection config asks for when it is in a newer
    one; return the format it was in when converted, else None. The caller must hold the file's
    only writer (the run lock). Crash-safe: the old file stays until the converted one is
    complete and renamed over it."""
    wanted = wanted_version(config)
    found = storage_version_of(database)
    if found is None or not is_newer_than_wanted(found, wanted):
        return None
    rewrite_file(database, config)
    return found


def rewrite_file(database: Path, config: dict[str, Any]) -> None:
    """Write `database` anew, table by table, in the format `config` asks for, and rename it
    over the old file. Used to convert a file's format, and by `osvi forget`: a deleted row's
    strings stay in a DuckDB file's freed blocks until something overwrites them, and a file
    written anew holds only the live rows. The caller must hold the file's only writer (the
    run lock). Crash-safe: the old file stays until the new one is complete and renamed."""
    wanted = wanted_version(config)
    duckdb.connect(str(database)).close()  # a clean close checkpoints: no WAL left behind
    converted = database.with_name(f"{database.name}.converting")
    converted.unlink(missing_ok=True)  # from a conversion killed midway
    Path(f"{converted}.wal").unlink(missing_ok=True)
    storage = f" (storage_version {sql_text(wanted)})" if wanted != "latest" else ""
    with duckdb.connect(config=config) as con:
        con.execute("set enable_progress_bar = false")  # it would print into the run's output
        con.execute(f"attach {sql_text(str(database))} as old (read_only)")
        con.execute(f"attach {sql_text(str(converted))} as new{storage}")
        con.execute("copy from database old to new")  # schemas, tables, views, data
        con.execute("detach new")
    with open(converted, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(converted, database)
    Path(f"{database}.wal").unlink(missing_ok=True)  # the old file's: checkpointed above
