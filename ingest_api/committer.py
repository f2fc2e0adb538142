"""Group commit: deliveries that arrive together share one write and one fsync.

A request hands its row to `submit` and waits. The flusher takes what is pending as soon as
the writer is free: after one pass of the event loop (every request already received joins),
plus at most `max_wait`, or at once when `max_rows` are waiting. It writes the group in a
worker thread and only then resolves every waiter. While a write is in progress new rows
accumulate, so under load groups grow by themselves and the fsync cost is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from osvi_core.landing import LandingRow

log = logging.getLogger("osvi.committer")


class StoreUnavailable(Exception):
    """The delivery was not stored; the client should retry later (HTTP 503)."""


@dataclass
class _Pending:
    row: LandingRow
    done: asyncio.Future[None]


@dataclass
class CommitStats:
    """Hooks for metrics, kept as callables so this module has no Prometheus dependency."""

    on_batch: Callable[[int, float], None] = lambda rows, seconds: None
    on_depth: Callable[[int], None] = lambda depth: None
    on_failure: Callable[[], None] = lambda: None


class GroupCommitter:
    def __init__(
        self,
        write: Callable[[Sequence[LandingRow]], object],
        *,
        max_rows: int,
        max_wait: float,
        max_queue: int,
        stats: CommitStats | None = None,
    ) -> None:
        self._write = write
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._max_queue = max_queue
        self._stats = stats or CommitStats()
        self._pending: list[_Pending] = []
        self._arrived = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.last_write_failed = False

    @property
    def depth(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self._max_queue

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def submit(self, row: LandingRow) -> None:
        """Return once `row` is durably on disk; raise StoreUnavailable otherwise."""
        if self._closing:
            raise StoreUnavailable("the server is shutting down")
        if self.full:
            raise StoreUnavailable("too many deliveries are waiting to be written")
        pending = _Pending(row, asyncio.get_running_loop().create_future())
        self._pending.append(pending)
        self._stats.on_depth(len(self._pending))
        self._arrived.set()
        if len(self._pending) >= self._max_rows:
            self._batch_full.set()
        await pending.done

    async def close(self) -> None:
        """Flush everything queued, then stop (graceful shutdown)."""
        self._closing = True
        self._arrived.set()
        self._batch_full.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()  # no await since the check: a submit cannot slip by
                await self._arrived.wait()
                continue
            if not self._closing and len(self._pending) < self._max_rows:
                await self._gather_more()
            batch = self._pending[: self._max_rows]
            del self._pending[: self._max_rows]
            self._stats.on_depth(len(self._pending))
            await self._flush(batch)

    async def _gather_more(self) -> None:
        """Let requests already received join the batch, waiting at most `max_wait`.

        One pass of the event loop picks up every request whose bytes are already here; a
        timer beyond that only helps when clients are slower than the disk, so it is optional.
        """
        await asyncio.sleep(0)
        if self._max_wait > 0 and len(self._pending) < self._max_rows:
            self._batch_full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._batch_full.wait(), self._max_wait)

    async def _flush(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._write, [item.row for item in batch])
        except Exception as exc:  # any failure to store means no 2xx for this batch
            self.last_write_failed = True
            self._stats.on_failure()
            log.error("landing write failed for %d deliveries: %s", len(batch), exc)
            error = StoreUnavailable(f"landing write failed: {type(exc).__name__}")
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(error)
            return
        self.last_write_failed = False
        self._stats.on_batch(len(batch), time.perf_counter() - started)
        for item in batch:
            if not item.done.done():
                item.done.set_result(None)
