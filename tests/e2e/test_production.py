"""`osvi up --production`: Dagster's production processes on a real PostgreSQL, all roles under
one supervisor or one role per process, and the refusal of a bad OSVI_DAGSTER_POSTGRES_URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import psycopg2
import pytest

from osvi_testkit.postgres import PASSWORD, USER, create_database, postgres_server
from osvi_testkit.processes import OSVI, free_port, wait_until
from tests.support.config import SAMPLE_FILE
from tests.support.dagster_graphql import LAUNCH, STATUS, graphql

TOKEN = "production-token-123"
@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[str, int]]:
    with postgres_server() as server:
        yield server


def _env(data: Path, url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(data), "OSVI_INGEST_TOKEN": TOKEN,
                "OSVI_DAGSTER_POSTGRES_URL": url, "OSVI_SENSOR_INTERVAL_SECONDS": "5"})
    return env


def _post(port: int, call_id: str) -> None:
    body = json.loads(SAMPLE_FILE.read_bytes())
    body["call_log_id"] = call_id
    answer = httpx.post(f"http://127.0.0.1:{port}/webhooks/crm", json=body,
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text


def _published(data: Path, call_id: str) -> bool:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return bool(con.execute("select count(*) from calls where call_log_id = $id",
                                {"id": call_id}).fetchall()[0][0])


def _session_commands(session: int) -> dict[int, str]:
    """pid -> command line of every process in a session (the supervisor's tree)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == session:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                    b"\0", b" ").decode()
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            continue
    return found


def _successful_runs(url: str) -> int:
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select count(*) from runs where status = 'SUCCESS'")
        return int(cursor.fetchone()[0])


def _web(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_all_roles_on_postgres_load_deliveries_and_survive_a_killed_daemon(
        tmp_path: Path, postgres: tuple[str, int]) -> None:
    url = create_database(*postgres, "osvi_all_roles")
    data, log = tmp_path / "data", tmp_path / "up.log"
    port, web, code = free_port(), free_port(), free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(OSVI), "up", "--production", "--port", str(port), "--dagster-port", str(web),
             "--code-server-port", str(code)], env=_env(data, url), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until("the Dagster webserver", lambda: graphql(_web(web), "{ version }") is not None,
                   timeout=180, process=process, log=log, interval=1)
        commands = " | ".join(_session_commands(process.pid).values())
        assert "dagster dev" not in commands and "dagster-daemon run" in commands
        assert "dagster-webserver" in commands and "code-server start" in commands
        _post(port, "prod-1")
        wait_until("the sensor's run to publish prod-1", lambda: _published(data, "prod-1"),
                   timeout=240, process=process, log=log, interval=2)
        # The snapshot is published a step or two before the run is marked a success.
        wait_until("the run recorded as a success in PostgreSQL",
                   lambda: _successful_runs(url) >= 1, timeout=120, process=process, log=log,
                   interval=1)

        [daemon] = [pid for pid, command in _session_commands(process.pid).items()
                    if "dagster-daemon run" in command]
        os.kill(daemon, signal.SIGKILL)
        wait_until("a new daemon", lambda: any(
            "dagster-daemon run" in command and pid != daemon
            for pid, command in _session_commands(process.pid).items()),
            timeout=60, process=process, log=log, interval=1)
        assert "daemon exited with status -9: restarting it" in log.read_text()
        _post(port, "prod-2")
        wait_until("the restarted daemon's sensor to publish prod-2",
                   lambda: _published(data, "prod-2"), timeout=240, process=process, log=log,
                   interval=2)
        before_stop = len(log.read_text())
    finally:
        status = _stop(process)
    assert status == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()[before_stop:], "a clean stop"


@pytest.mark.slow
def test_one_role_per_process_forms_the_same_system(tmp_path: Path,
                                                     postgres: tuple[str, int]) -> None:
    url = create_database(*postgres, "osvi_one_role_each")
    data = tmp_path / "data"
    port, web, code, web_ro = free_port(), free_port(), free_port(), free_port()
    common = ["--production", "--port", str(port), "--dagster-port", str(web),
              "--code-server-port", str(code)]
    roles: dict[str, subprocess.Popen[bytes]] = {}
    logs = {}
    try:
        for role in ("code-server", "ingest", "daemon", "webserver", "read-only"):
            logs[role] = tmp_path / f"{role}.log"
            extra = (["--only", "webserver", "--read-only", "--dagster-port", str(web_ro)]
                     if role == "read-only" else ["--only", role])
            with open(logs[role], "wb") as out:
                roles[role] = subprocess.Popen([str(OSVI), "up", *common, *extra],
                                               env=_env(data, url), stdout=out,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True)
            if role == "code-server":  # the daemon and the webservers load the location from it
                wait_until("the code server", lambda: _listening(code), timeout=120,
                           process=roles[role], log=logs[role], interval=1)
        for role, web_port in (("webserver", web), ("read-only", web_ro)):
            wait_until(f"the {role} webserver",
                       lambda web_port=web_port: graphql(_web(web_port), "{ version }") is not None,
                       timeout=180, process=roles[role], log=logs[role], interval=1)
        _post(port, "role-1")
        wait_until("the daemon's sensor run to publish", lambda: _published(data, "role-1"),
                   timeout=240, process=roles["daemon"], log=logs["daemon"], interval=2)

        today = time.strftime("%Y-%m-%d", time.gmtime())
        params = {"partitionNames": [today], "assetSelection": [{"path": ["deliveries"]}],
                  "fromFailure": False}
        refused = httpx.post(f"{_web(web_ro)}/graphql", timeout=30, json={
            "query": LAUNCH, "variables": {"params": params}}).json()
        assert "errors" in refused or refused["data"]["launchPartitionBackfill"][
            "__typename"] != "LaunchBackfillSuccess", "a read-only webserver launches nothing"
        launched = graphql(_web(web), LAUNCH, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched

        def backfill_done() -> bool:
            status = graphql(_web(web), STATUS, {"id": launched["backfillId"]})[
                "partitionBackfillOrError"]["status"]
            assert status not in ("FAILED", "CANCELED", "COMPLETED_FAILED"), status
            return status in ("COMPLETED", "COMPLETED_SUCCESS")

        wait_until("the backfill launched through the webserver", backfill_done, timeout=240,
                   process=roles["daemon"], log=logs["daemon"], interval=2)
    finally:
        statuses = {role: _stop(process) for role, process in reversed(roles.items())}
    assert set(statuses.values()) == {0}, statuses


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("target", ["wrong-password", "unknown-host"])
def test_a_bad_postgres_url_is_named_within_seconds(tmp_path: Path, postgres: tuple[str, int],
                                                    target: str) -> None:
    host, port = postgres
    url = (f"postgresql://{USER}:not-{PASSWORD}@{host}:{port}/postgres"
           if target == "wrong-password"
           else f"postgresql://{USER}:{PASSWORD}@no-such-host.invalid:5432/osvi")
    started = time.monotonic()
    done = subprocess.run([str(OSVI), "up", "--production", "--only", "daemon"],
                          env=_env(tmp_path / "data", url), capture_output=True, text=True,
                          timeout=60)
    assert time.monotonic() - started < 20
    assert done.returncode == 2
    assert "OSVI_DAGSTER_POSTGRES_URL: cannot connect to PostgreSQL as osvi@" in done.stderr
    expected = ("password authentication failed" if target == "wrong-password"
                else "no-such-host.invalid")
    assert expected in done.stderr
    assert PASSWORD not in done.stdout + done.stderr and "Traceback" not in done.stderr
