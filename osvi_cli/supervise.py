"""Run several long-lived processes together; stop all of them when one stops or on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_together(commands: Mapping[str, Sequence[str]], env: Mapping[str, str],
                 cwd: Path | None = None) -> int:
    processes = {name: subprocess.Popen(list(command), env=dict(env), cwd=cwd)
                 for name, command in commands.items()}
    status = 0
    try:
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        status = next(p.returncode for p in processes.values() if p.returncode is not None)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the ingest API flushes and publishes
        deadline = time.monotonic() + 30
        for process in processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
    return status
