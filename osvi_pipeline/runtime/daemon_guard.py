"""Exactly one dagster-daemon per instance.

Dagster lets a second daemon start against the same instance: both launch runs, and each logs
"Another SENSOR daemon is still sending heartbeats" every ~30 s while nothing stops either.
Before a daemon role starts, osvi looks for one already running (a process on this host whose
DAGSTER_HOME is this instance's, or another host's lease with heartbeats still fresh) and
refuses, saying where it runs. The lease (host, pid, start) is kept in the instance's key-value
store, so every host sharing the PostgreSQL instance sees it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

LEASE_KEY = "osvi/daemon_lease"
# Dagster's daemons heartbeat every 30 s: two missed beats mean the daemon is gone.
FRESH_HEARTBEAT_SECONDS = 75
DAEMON_COMMANDS = ("dagster-daemon", "dagster dev")


@dataclass(frozen=True)
class Lease:
    host: str
    pid: int
    started: float


class SecondDaemon(Exception):
    """Another daemon of this instance is running; the message says where."""


def claim_daemon(instance: dg.DagsterInstance, home: Path) -> Lease:
    """Refuse when another daemon runs for this instance; otherwise record this host's lease."""
    host = socket.gethostname()
    local = local_daemon_pids(home)
    if local:
        raise SecondDaemon(f"a dagster-daemon of this instance ({home}) already runs on this "
                           f"host (pid {local[0]}): stop it first; exactly one daemon may run")
    lease = read_lease(instance)
    beat_age = newest_heartbeat_age(instance)
    if beat_age is not None and beat_age < FRESH_HEARTBEAT_SECONDS:
        if lease is not None and lease.host != host:
            raise SecondDaemon(
                f"the dagster-daemon of this instance runs on {lease.host} (pid {lease.pid}, "
                f"its last heartbeat {beat_age:.0f} s ago): stop it there first, or wait "
                f"{FRESH_HEARTBEAT_SECONDS} s after it stopped")
        if lease is None:
            raise SecondDaemon(
                f"a dagster-daemon of this instance sent a heartbeat {beat_age:.0f} s ago from "
                f"another host: stop it first, or wait {FRESH_HEARTBEAT_SECONDS} s after it "
                "stopped")
    claimed = Lease(host=host, pid=os.getpid(), started=time.time())
    instance.run_storage.set_cursor_values({LEASE_KEY: json.dumps(claimed.__dict__)})
    return claimed


def read_lease(instance: dg.DagsterInstance) -> Lease | None:
    raw = instance.run_storage.get_cursor_values({LEASE_KEY}).get(LEASE_KEY)
    if not raw:
        return None
    try:
        return Lease(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def newest_heartbeat_age(instance: dg.DagsterInstance) -> float | None:
    beats = instance.get_daemon_heartbeats().values()
    return time.time() - max(beat.timestamp for beat in beats) if beats else None


def local_daemon_pids(home: Path) -> list[int]:
    """Daemons (`dagster-daemon run`, `dagster dev`) on this host whose DAGSTER_HOME is
    `home`, found through /proc (an orphan of a killed supervisor included)."""
    wanted = str(home.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if not any(name in command for name in DAEMON_COMMANDS):
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if f"DAGSTER_HOME={wanted}".encode() in environ:
            found.append(int(entry.name))
    return sorted(found)
