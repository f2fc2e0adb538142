"""One dagster-daemon per instance: the lease and heartbeat rules on a real (SQLite) instance.
The same-host refusal and the whole command run on PostgreSQL in tests/e2e/test_production.py."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat

from osvi_pipeline.runtime.daemon_guard import (
    FRESH_HEARTBEAT_SECONDS,
    LEASE_KEY,
    SecondDaemon,
    claim_daemon,
    read_lease,
)


def beat(instance: dg.DagsterInstance, seconds_ago: float) -> None:
    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - seconds_ago, "SENSOR", "other"))


def lease_on(instance: dg.DagsterInstance, host: str) -> None:
    instance.run_storage.set_cursor_values(
        {LEASE_KEY: json.dumps({"host": host, "pid": 4242, "started": time.time() - 60})})


def test_another_hosts_live_daemon_is_refused_by_name(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        lease_on(instance, "pipeline-a.internal")
        beat(instance, seconds_ago=10)
        with pytest.raises(SecondDaemon, match=r"runs on pipeline-a\.internal \(pid 4242"):
            claim_daemon(instance, tmp_path)
        assert read_lease(instance).host == "pipeline-a.internal"  # type: ignore[union-attr]


def test_a_daemon_without_a_lease_but_beating_is_refused(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        beat(instance, seconds_ago=5)
        with pytest.raises(SecondDaemon, match="sent a heartbeat 5 s ago"):
            claim_daemon(instance, tmp_path)


def test_a_stopped_daemon_elsewhere_lets_this_host_take_over(tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        lease_on(instance, "pipeline-a.internal")
        beat(instance, seconds_ago=FRESH_HEARTBEAT_SECONDS + 5)
        claimed = claim_daemon(instance, tmp_path)
        assert claimed.host == socket.gethostname() and claimed.pid == os.getpid()
        assert read_lease(instance) == claimed


def test_this_hosts_own_lease_after_a_crash_is_taken_over(tmp_path: Path) -> None:
    """systemd restarting `--only daemon` after a kill -9: the old process is gone, its
    heartbeat still fresh, the lease this host's."""
    with dg.instance_for_test() as instance:
        lease_on(instance, socket.gethostname())
        beat(instance, seconds_ago=3)
        assert claim_daemon(instance, tmp_path).pid == os.getpid()
