"""Run several long-lived processes together; stop all of them when one stops, on Ctrl-C or on
SIGTERM (a service manager's stop). Their output passes through `child_output.LineShaper`:
plain text off a terminal, tracebacks of Dagster's services folded unless verbose."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from osvi_cli.child_output import LineShaper

GRACE_SECONDS = 30
# The first command when the others depend on it (the code server): stopped last, once they
# are gone, and given less time. It holds no state of its own (runs are in the instance), and
# waiting out the whole escalation made an all-in-one stop take 32 s.
FIRST_GRACE_SECONDS = 5
IDLE_FLUSH_SECONDS = 0.3
PUMP_DRAIN_SECONDS = 1.0
RESTART_DELAY_SECONDS = 1.0
READY_TIMEOUT_SECONDS = 120
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


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
                 first_ready: Callable[[], bool] | None = None,
                 fold_tracebacks: frozenset[str] = frozenset()) -> int:
    """Run the commands until a stop signal. Without `restart`, the first to exit stops the
    rest and its status is returned; with it, a command that exits is reported and started
    again (after RESTART_DELAY_SECONDS, doubling while it keeps failing within a minute).
    `first_ready`: the others start once it says the first command is ready (a server that
    they connect to), or after READY_TIMEOUT_SECONDS; it is then stopped after them.
    `fold_tracebacks`: the commands whose tracebacks become one line."""
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    adopting = _adopt_orphans()
    plain = not sys.stdout.isatty()
    pumps: list[threading.Thread] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(list(commands[name]), env={**env, "PYTHONUNBUFFERED": "1"},
                                   cwd=cwd, preexec_fn=_interruptible, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        assert process.stdout is not None
        shaper = LineShaper(plain=plain, collapse_tracebacks=name in fold_tracebacks)
        pump = threading.Thread(target=_pump, args=(process.stdout, shaper), daemon=True,
                                name=f"output-{name}")
        pump.start()
        pumps.append(pump)
        return process

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
            if adopting:
                _reap_adopted(set(p.pid for p in processes.values()))
            time.sleep(0.5)
    except _Stop as stop:
        interrupted = stop.signum == signal.SIGINT and _children_saw_ctrl_c()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        running = [processes[name] for name in names if name in processes]
        if first_ready is not None and len(running) > 1:  # dependents first, then the server
            _stop_all(running[1:], interrupted)
            _stop_all(running[:1], interrupted, grace=FIRST_GRACE_SECONDS)
        else:
            _stop_all(running, interrupted)
        if adopting:
            _stop_adopted()
        # A child's orphans may hold its output open (a killed code server's gRPC process
        # lives on until its 30 s heartbeat timeout): wait a moment for the last lines only.
        deadline = time.monotonic() + PUMP_DRAIN_SECONDS
        for pump in pumps:
            pump.join(timeout=max(deadline - time.monotonic(), 0.01))
    return status


_OUTPUT_LOCK = threading.Lock()


def _pump(stream: IO[bytes], shaper: LineShaper) -> None:
    """Copy a child's output to ours line by line through its shaper; a record's held lines
    are let out after IDLE_FLUSH_SECONDS of quiet and at the end."""
    fd, pending = stream.fileno(), b""

    def emit(lines: list[str]) -> None:
        if lines:
            with _OUTPUT_LOCK:
                sys.stdout.write("".join(line + "\n" for line in lines))
                sys.stdout.flush()

    with stream:
        while True:
            ready, _, _ = select.select([fd], [], [], IDLE_FLUSH_SECONDS)
            if not ready:
                emit(shaper.flush())
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                emit(shaper.feed(line.decode("utf-8", errors="replace")))
    if pending:
        emit(shaper.feed(pending.decode("utf-8", errors="replace")))
    emit(shaper.flush())


def _children_saw_ctrl_c() -> bool:
    """Ctrl-C in a terminal signals its whole foreground process group, which the children
    share; a SIGINT sent to this process alone (`kill -INT`, no terminal) must be passed on."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):  # no terminal (closed or redirected stdin)
        return False


def _stop_all(processes: list[subprocess.Popen[bytes]], interrupted: bool,
              grace: float = GRACE_SECONDS) -> None:
    """Ctrl-C for each (the ingest API flushes and publishes; dagster dev stops its daemon and
    webserver), then SIGTERM, then SIGKILL for what is still running after each grace period."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        for process in processes:
            if process.poll() is None and not (sig == signal.SIGINT and interrupted):
                process.send_signal(sig)
        deadline = time.monotonic() + grace
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(deadline - time.monotonic(), 0.1))
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def _adopt_orphans() -> bool:
    """Become the reaper of this process's descendants (Linux). A run worker outlives the
    daemon (or code server) that started it: without this, a stop returned while a run went on
    writing the warehouse and Dagster's run storage. False where prctl is not there."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _children() -> dict[int, str]:
    """This process's children and their states (R, S, Z…), from /proc."""
    me, found = os.getpid(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid …: the command may hold spaces and parentheses.
        state, parent = stat[stat.rindex(")") + 2:].split(" ", 2)[:2]
        if int(parent) == me:
            found[int(entry.name)] = state
    return found


def _reap_adopted(own: set[int]) -> None:
    """Collect adopted orphans that ended (Popen waits for our own children)."""
    for pid, state in _children().items():
        if state == "Z" and pid not in own:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _stop_adopted(grace: float = GRACE_SECONDS) -> None:
    """Once our own children are gone, the orphans they left. A run worker (a `multiprocessing`
    child: _runs_a_dagster_run) gets a grace period to end its run; any other orphan (a killed
    code server's gRPC process, which would wait out its 30 s heartbeat) is sent SIGTERM at
    once. Then SIGTERM for the runs still going (Dagster marks
    the run canceled; its transaction rolls back, and the next run of its day loads its files),
    then SIGKILL. Their own orphans are adopted in turn and treated alike."""
    for stage, wait in (("grace", grace), ("terminate", grace), ("kill", 5.0)):
        signalled: set[int] = set()
        deadline = time.monotonic() + wait
        while living := _living_adopted():
            for pid in set(living) - signalled:
                if stage == "kill":
                    sig: int = signal.SIGKILL
                elif stage == "terminate" or not _runs_a_dagster_run(pid):
                    sig = signal.SIGTERM
                else:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                signalled.add(pid)
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        else:
            return


def _runs_a_dagster_run(pid: int) -> bool:
    """A `multiprocessing` child: how the daemon's warm launcher (a forkserver's child) and
    Dagster's code server (a spawn child) run each run."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        return b"spawn_main" in command or b"multiprocessing.forkserver" in command
    except OSError:
        return False


def _living_adopted() -> list[int]:
    _reap_adopted(set())
    return [pid for pid, state in _children().items() if state != "Z"]
