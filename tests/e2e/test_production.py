"""`osvi up --production`: Dagster's production processes on a real PostgreSQL, all roles under
one supervisor or one role per process, the refusal of a bad OSVI_DAGSTER_POSTGRES_URL, and the
runbook's guards (a password needing percent-encoding, a shell without the production
environment, a second daemon, a stop within seconds)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

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


def _kill_and_await_restart(supervisor: subprocess.Popen[bytes], log: Path, command: str
                            ) -> None:
    """kill -9 the supervisor's child running `command`; wait for its replacement."""
    [killed] = [pid for pid, line in _session_commands(supervisor.pid).items() if command in line]
    os.kill(killed, signal.SIGKILL)
    wait_until(f"a new {command}", lambda: any(
        command in line and pid != killed
        for pid, line in _session_commands(supervisor.pid).items()),
        timeout=60, process=supervisor, log=log, interval=1)


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
             "--code-server-port", str(code), "--explorer-port", str(free_port())],
            env=_env(data, url), stdout=out,
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

        _kill_and_await_restart(process, log, "dagster-daemon run")
        assert "daemon exited with status -9: restarting it" in log.read_text()
        _post(port, "prod-2")
        wait_until("the restarted daemon's sensor to publish prod-2",
                   lambda: _published(data, "prod-2"), timeout=240, process=process, log=log,
                   interval=2)

        # A killed code server: the daemon's sensor ticks fail until it is back (one folded
        # line each, no traceback), and it orphans a gRPC process that lives on for 30 s.
        _kill_and_await_restart(process, log, "code-server start")
        _post(port, "prod-3")
        wait_until("prod-3 through the restarted code server",
                   lambda: _published(data, "prod-3"), timeout=240, process=process, log=log,
                   interval=2)
        before_stop = len(log.read_text())
        started = time.monotonic()
    finally:
        status = _stop(process)
    stop_seconds = time.monotonic() - started
    output = log.read_text()
    assert status == 0, output[-3000:]
    assert "Traceback" not in output, "tracebacks are folded into one line without --verbose"
    assert "\x1b[" not in output, "plain text when the output is not a terminal"
    assert stop_seconds < 10, f"SIGTERM took {stop_seconds:.1f} s (was 32 s: issue 32)"
    assert "Shutting down" in output[before_stop:], "the ingest stopped gracefully"


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


@pytest.mark.slow
def test_the_runbooks_guards_on_postgres(tmp_path: Path, postgres: tuple[str, int]) -> None:
    """docs/deploy.md, as a data engineer follows it: a password that needs percent-encoding,
    `osvi materialize` from a shell without /etc/osvi/osvi.env, and a second daemon."""
    host, port = postgres
    password = "p@ss:w/rd%7 x"  # every character that breaks an unencoded URL
    admin = psycopg2.connect(host=host, port=port, user=USER, password=PASSWORD,
                             dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("drop database if exists osvi_guards")
        cursor.execute("drop role if exists odd_osvi")
        cursor.execute("create role odd_osvi login password %s", (password,))
        cursor.execute("create database osvi_guards owner odd_osvi")
    admin.close()
    encoded = f"postgresql://odd_osvi:{quote(password, safe='')}@{host}:{port}/osvi_guards"
    unencoded = f"postgresql://odd_osvi:{password}@{host}:{port}/osvi_guards"
    data = tmp_path / "data"

    refused = subprocess.run([str(OSVI), "up", "--production", "--only", "daemon"],
                             env=_env(data, unencoded), capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "%40" in refused.stderr, refused.stderr
    for fragment in ("p@ss", "w/rd", "rd%7", "ss:w"):
        assert fragment not in refused.stdout + refused.stderr, fragment

    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen([str(OSVI), "up", "--production", "--only", "daemon"],
                                  env=_env(data, encoded), stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until("the daemon's heartbeat in PostgreSQL, through the encoded password",
                   lambda: _heartbeats(encoded) > 0, timeout=120, process=daemon, log=log,
                   interval=1)
        second = subprocess.run([str(OSVI), "up", "--production", "--only", "daemon"],
                                env=_env(data, encoded), capture_output=True, text=True,
                                timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert "already runs on this host (pid " in second.stderr

        config = data / "dagster" / "dagster.yaml"
        before = config.read_bytes()
        shell = {key: value for key, value in _env(data, encoded).items()
                 if key != "OSVI_DAGSTER_POSTGRES_URL"}
        stray = subprocess.run([str(OSVI), "materialize"], env=shell, capture_output=True,
                               text=True, timeout=60)
        assert stray.returncode == 2, stray.stdout + stray.stderr
        assert "keeps its runs in PostgreSQL" in stray.stderr
        assert "--env-file /etc/osvi/osvi.env" in stray.stderr
        assert config.read_bytes() == before, "dagster.yaml left as the services wrote it"
        assert not (data / "dagster" / "history").exists(), "no SQLite history started"
    finally:
        status = _stop(daemon)
    assert status == 0, log.read_text()[-3000:]
    lease = _lease(encoded)
    assert lease["host"] == socket.gethostname() and lease["pid"] == daemon.pid


def _heartbeats(url: str) -> int:
    try:
        with psycopg2.connect(url) as con, con.cursor() as cursor:
            cursor.execute("select count(*) from daemon_heartbeats")
            return int(cursor.fetchone()[0])
    except psycopg2.errors.UndefinedTable:  # the daemon has not created Dagster's tables yet
        return 0


def _lease(url: str) -> dict[str, object]:
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("select value from kvs where key = 'osvi/daemon_lease'")
        return dict(json.loads(cursor.fetchone()[0]))
