"""Concurrent loopback load on `osvi serve` processes that remembers every acknowledged
delivery: the evidence for "nothing acknowledged is ever lost"."""

from __future__ import annotations

import itertools
import threading
import time

import httpx
import orjson


class LoadGenerator:
    """`threads` clients, each sending to the URLs in turn (a load balancer's round robin),
    until stopped or `per_thread` requests each. A refused connection (a server down) is
    counted by its error name and the client moves on, as OSVI would."""

    def __init__(self, urls: list[str], token: str, threads: int = 12,
                 per_thread: int = 5_000) -> None:
        self.urls, self.token = urls, token
        self.threads, self.per_thread = threads, per_thread
        self.acked: dict[str, str] = {}  # delivery_id -> its call_log_id
        self.statuses: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def _work(self, worker: int) -> None:
        first = worker % len(self.urls)
        targets = itertools.cycle(self.urls[first:] + self.urls[:first])
        with httpx.Client(timeout=5) as client:
            for sequence in range(self.per_thread):
                if self._stop.is_set():
                    return
                call = f"w{worker}-{sequence}"
                body = orjson.dumps({"call_log_id": call, "call_status": "completed",
                                     "data_capture": {"n": sequence}})
                try:
                    response = client.post(f"{next(targets)}/webhooks/crm", content=body,
                                           headers={"Authorization": f"Bearer {self.token}"})
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    time.sleep(0.01)
                else:
                    key = str(response.status_code)
                    if response.status_code == 200:
                        with self._lock:
                            self.acked[str(response.json()["delivery_id"])] = call
                with self._lock:
                    self.statuses[key] = self.statuses.get(key, 0) + 1

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._work, args=(i,), daemon=True)
                         for i in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_for_acks(self, at_least: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.acked_count() < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"fewer than {at_least} acks: {self.statuses}")
            time.sleep(0.02)

    def join(self, timeout: float = 120) -> None:
        for worker in self._workers:
            worker.join(timeout)

    def stop(self) -> None:
        self._stop.set()
        self.join(30)
