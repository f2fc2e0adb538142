"""The published warehouse, opened read-only and let go as soon as a newer one is published.

The pipeline publishes by re-linking OSVI_WAREHOUSE to one of two copies and, the run after,
writes the copy that was published before. A reader still holding that copy would make the
pipeline remake it by a whole-file copy, so a watcher notices each publication within a
quarter of a second, opens the new file and closes the old one when its last query is done.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

WATCH_SECONDS = 0.25
# DuckDB's buffer pool for the explorer's reads: the pages aggregate small marts and scan a few
# columns of `calls`; past this it spills or re-reads from the OS page cache. At 512 MB the
# explorer's RSS passed 300 MB over a 1M-call benchmark run, at 160 MB it reached 316 MB (its
# imports alone are ~95 MB, idle ~180 MB; docs/benchmarks.md, "Explorer").
MEMORY_LIMIT = "96MB"


@dataclass
class _Opened:
    publication: str
    connection: duckdb.DuckDBPyConnection
    users: int = 0
    retired: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.retired and self.users == 0:
                self.connection.close()


class WarehouseReader:
    def __init__(self, path: Path, memory_limit: str = MEMORY_LIMIT, threads: int = 2) -> None:
        self.path = path
        self._config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": memory_limit, "threads": threads}
        self._current: _Opened | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="warehouse-watch",
                                         daemon=True)

    def start(self) -> None:
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._current is not None:
                self._retire(self._current)
                self._current = None

    def publication(self) -> str | None:
        """An id of the file OSVI_WAREHOUSE names now (None: nothing published yet)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return f"{stat.st_ino}-{stat.st_mtime_ns}"

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A cursor on the current publication, or None when there is none yet."""
        opened = self._acquire()
        if opened is None:
            yield None
            return
        try:
            cursor = opened.connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        finally:
            opened.release()

    def _acquire(self) -> _Opened | None:
        with self._lock:
            self._refresh()
            if self._current is None:
                return None
            with self._current.lock:
                self._current.users += 1
            return self._current

    def _refresh(self) -> None:
        """Open the newest publication if it changed (called with self._lock held)."""
        publication = self.publication()
        if self._current is not None and self._current.publication == publication:
            return
        previous, self._current = self._current, None
        if previous is not None:
            self._retire(previous)
        if publication is None:
            return
        try:
            connection = duckdb.connect(str(self.path), read_only=True, config=self._config)
        except duckdb.Error:
            return  # replaced while opening: the next look opens the newer one
        self._current = _Opened(publication, connection)

    @staticmethod
    def _retire(opened: _Opened) -> None:
        with opened.lock:
            opened.retired = True
            if opened.users == 0:
                opened.connection.close()

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            with self._lock:
                if self._current is not None and self.publication() != self._current.publication:
                    self._refresh()
