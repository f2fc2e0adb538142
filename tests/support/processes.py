"""Start the real `osvi serve` process on a free loopback port (for end-to-end tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

OSVI = Path(sys.executable).with_name("osvi")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"osvi serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("osvi serve did not become healthy in time")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextmanager
def served(data_dir: Path, token: str, log: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, free_port(), token, log)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill(signal.SIGTERM)  # graceful: publishes the journal to landing
