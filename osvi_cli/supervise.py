"""Run several long-lived processes together; stop all of them when one stops, on Ctrl-C or on
SIGTERM (a service manager's stop)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 30
RESTART_DELAY_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 120


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
                 cwd: Path | None = None, restart: bool = False,
                 report: Callable[[str], None] = print,
                 first_ready: Callable[[], bool] | None = None) -> int:
    """Run the commands until a stop signal. Without `restart`, the first to exit stops the
    rest and its status is returned; with it, a command that exits is reported and started
    again (after RESTART_DELAY_SECONDS, doubling while it keeps failing within a minute).
    `first_ready`: the others start once it says the first command is ready (a server that
    they connect to), or after READY_TIMEOUT_SECONDS."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(commands[name]), env=dict(env), cwd=cwd,
                                preexec_fn=_interruptible)

    names = list(commands)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    started = {name: time.monotonic() for name in commands}
    delays = dict.fromkeys(commands, RESTART_DELAY_SECONDS)
    status = 0
    # Ctrl-C in a terminal reaches the children too: do not send them a second one.
    interrupted = False
    try:
        processes[names[0]] = start(names[0])
        if first_ready is not None:
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while (time.monotonic() < deadline and processes[names[0]].poll() is None
                   and not first_ready()):
                time.sleep(0.5)
        processes.update({name: start(name) for name in names[1:]})
        while True:
            exited = [name for name, p in processes.items() if p.poll() is not None]
            if exited and not restart:
                status = processes[exited[0]].returncode
                break
            for name in exited:
                code = processes[name].returncode
                quick = time.monotonic() - started[name] < 60
                delays[name] = min(delays[name] * 2, 60.0) if quick else RESTART_DELAY_SECONDS
                report(f"{name} exited with status {code}: restarting it in "
                       f"{delays[name]:.0f} s")
                time.sleep(delays[name])
                processes[name], started[name] = start(name), time.monotonic()
            time.sleep(0.5)
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
