"""Real processes for end-to-end tests: free loopback ports, the one start-and-poll loop, and
`osvi serve` started on its own port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx

OSVI = Path(sys.executable).with_name("osvi")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, probe: Callable[[], bool], *, timeout: float,
               process: subprocess.Popen[bytes] | None = None, log: Path | None = None,
               interval: float = 0.2) -> None:
    """Poll `probe` until it is true: the one start-and-poll loop of the suite.

    A probe that raises an HTTP or DuckDB error counts as "not yet" (a server still starting,
    a file not yet published). Fails with the log's tail when `process` exits first or the
    time runs out.
    """
    deadline = time.monotonic() + timeout
    tail = (lambda: log.read_text(errors="replace")[-3000:]) if log else (lambda: "")
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited before {what}:\n{tail()}")
        try:
            if probe():
                return
        except (httpx.HTTPError, duckdb.Error):
            pass
        time.sleep(interval)
    raise AssertionError(f"no {what} within {timeout:.0f} s:\n{tail()}")


class ServerProcess:
    def __init__(self, data_dir: Path, port: int, token: str, log: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port, self.token, self.log = data_dir, port, token, log
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "OSVI_DATA_DIR": str(self.data_dir),
               "OSVI_INGEST_TOKEN": self.token, **self.extra_env}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(OSVI), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until("a healthy osvi serve",
                   lambda: httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200,
                   timeout=timeout, process=self.process, log=self.log, interval=0.05)

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM a process started with start_new_session and its whole group; SIGKILL what is
    left after `timeout`."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def served(data_dir: Path, token: str, log: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, free_port(), token, log)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill(signal.SIGTERM)  # graceful: publishes the journal to landing
