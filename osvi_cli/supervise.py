"""Run several long-lived processes together; stop all of them when one stops, on Ctrl-C or on
SIGTERM (a service manager's stop)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 30


class _Stop(Exception):
    """A stop signal arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def _interruptible() -> None:
    # A parent started in the background (nohup, `&`, some service managers) may hand down an
    # ignored SIGINT; the children must still stop on it like after Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_together(commands: Mapping[str, Sequence[str]], env: Mapping[str, str],
                 cwd: Path | None = None) -> int:
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = {name: subprocess.Popen(list(command), env=dict(env), cwd=cwd,
                                        preexec_fn=_interruptible)
                 for name, command in commands.items()}
    status = 0
    # Ctrl-C in a terminal reaches the children too: do not send them a second one.
    interrupted = False
    try:
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        status = next(p.returncode for p in processes.values() if p.returncode is not None)
    except _Stop as stop:
        interrupted = stop.signum == signal.SIGINT and _children_saw_ctrl_c()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(list(processes.values()), interrupted)
    return status


def _children_saw_ctrl_c() -> bool:
    """Ctrl-C in a terminal signals its whole foreground process group, which the children
    share; a SIGINT sent to this process alone (`kill -INT`, no terminal) must be passed on."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):  # no terminal (closed or redirected stdin)
        return False


def _stop_all(processes: list[subprocess.Popen[bytes]], interrupted: bool) -> None:
    """Ctrl-C for each (the ingest API flushes and publishes; dagster dev stops its daemon and
    webserver), then SIGTERM, then SIGKILL for what is still running after each grace period."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        for process in processes:
            if process.poll() is None and not (sig == signal.SIGINT and interrupted):
                process.send_signal(sig)
        deadline = time.monotonic() + GRACE_SECONDS
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(deadline - time.monotonic(), 0.1))
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
