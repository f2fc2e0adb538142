"""`osvi up` (what `make run` starts) as a user runs it: the ingest API and `dagster dev` come
up together, a delivery posted to the webhook reaches the published warehouse through the
landing sensor with nobody clicking anything (even when that run fails once: Dagster runs it
again), SIGTERM (a service manager's stop) stops both servers cleanly, and the terminal shows
start-up lines and one line per run, not Dagster's sensor ticks (OSVI_LOG_LEVEL=info)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from osvi_testkit.processes import OSVI, free_port, wait_until
from tests.support.config import CHECKOUT, SAMPLE_FILE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TOKEN = "up-token-abcdefgh"
SAMPLE = SAMPLE_FILE
RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"


def _processes_of(data: Path) -> list[int]:
    """The processes whose environment names this data folder (a run worker among them)."""
    marker = f"OSVI_DATA_DIR={data}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def osvi_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int, int]]:
    data, log = tmp_path / "data", tmp_path / "up.log"
    port, dagster_port = free_port(), free_port()
    env = {**os.environ, "OSVI_DATA_DIR": str(data), "OSVI_INGEST_TOKEN": TOKEN,
           "OSVI_TIMEZONE": "UTC"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            # The explorer on a free port too: 8080 may be another test's (pytest -n 2).
            [str(OSVI), "up", "--port", str(port), "--dagster-port", str(dagster_port),
             "--explorer-port", str(free_port())],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process, data, port, dagster_port
    finally:
        if process.poll() is None:  # a failed assertion: leave no servers behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_posted_call_reaches_the_warehouse_and_sigterm_stops_both(
        osvi_up: tuple[subprocess.Popen[bytes], Path, int, int], tmp_path: Path) -> None:
    process, data, port, dagster_port = osvi_up
    log = tmp_path / "up.log"
    wait_until("the ingest API", lambda: httpx.get(
        f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200,
        timeout=60, process=process, log=log, interval=1)
    wait_until("the Dagster UI", lambda: httpx.post(
        f"http://127.0.0.1:{dagster_port}/graphql", json={"query": "{ version }"},
        timeout=5).status_code == 200, timeout=180, process=process, log=log, interval=1)

    warehouse = data / "warehouse.duckdb"
    warehouse.mkdir()  # a fault that passes: publishing the snapshot fails while it stands
    stored = httpx.post(f"http://127.0.0.1:{port}/webhooks/crm", content=SAMPLE.read_bytes(),
                        headers={"Authorization": f"Bearer {TOKEN}",
                                 "Content-Type": "application/json"}, timeout=10)
    assert stored.status_code == 200, stored.text

    graphql = f"http://127.0.0.1:{dagster_port}/graphql"

    def runs() -> list[dict[str, Any]]:
        answer = httpx.post(graphql, json={"query": RUNS}, timeout=10).json()
        return list(answer["data"]["runsOrError"]["results"])

    # The sensor looks at landing once a minute; its run then needs a few seconds.
    wait_until("the sensor's run to fail", lambda: any(
        run["status"] == "FAILURE" for run in runs()), timeout=240, process=process, log=log,
        interval=1)
    warehouse.rmdir()

    def call_published() -> bool:
        if not warehouse.exists():
            return False
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows = con.execute("select campaign, delivery_count from calls "
                               "where call_log_id = '8de63236-e013-42dd-9d99-1be5521701d4'"
                               ).fetchall()
        return rows == [("june-renewals", 1)]

    # No new file, so no new sensor run: only Dagster's retry of the failed run publishes it.
    wait_until("the call in the published warehouse", call_published, timeout=180,
               process=process, log=log, interval=1)
    failed = {run["runId"] for run in runs() if run["status"] == "FAILURE"}

    def retry_succeeded() -> bool:  # the call is published before the run's last steps end
        return any(run["status"] == "SUCCESS" and {"key": "dagster/parent_run_id",
                                                   "value": parent} in run["tags"]
                   for run in runs() for parent in failed)

    wait_until("the retry to succeed", retry_succeeded, timeout=120, process=process, log=log,
               interval=1)

    before_stop = len(log.read_text())
    process.send_signal(signal.SIGTERM)
    assert process.wait(120) == 0
    output = log.read_text()
    for port_in_use in (port, dagster_port):  # both servers are gone, not just the parent
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port_in_use}/", timeout=2)
    assert _processes_of(data) == [], "a process of this instance outlived `osvi up`"
    assert "Traceback" not in output[before_stop:], output[before_stop:][-3000:]
    # A quiet start: no sensor ticks, no step events, no line per delivery; one line per run.
    for chatter in ("Checking for new runs for sensor", "STEP_START", '"event":"delivery"'):
        assert chatter not in output, chatter
    assert "landing_job (a retry): " in output and "1 deliveries loaded, published" in output
    assert "SupersessionWarning" not in output, "dagster dev's start-up warning reached the user"
    assert output.count("OSVI header to paste") == 1, "the token is announced once"


def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path) -> None:
    """A second `make run` (or anything on 8000/3000) used to announce both URLs, start the
    ingest server, fail to bind and stop with "Aborted!"; now it says which port and how out."""
    import socket

    env = {**os.environ, "OSVI_DATA_DIR": str(tmp_path / "data"), "OSVI_INGEST_TOKEN": TOKEN}
    for taken_option in ("--port", "--dagster-port"):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            taken = holder.getsockname()[1]
            ports = {"--port": str(free_port()), "--dagster-port": str(free_port()),
                     "--explorer-port": str(free_port()), taken_option: str(taken)}
            done = subprocess.run([str(OSVI), "up", *(x for kv in ports.items() for x in kv)],
                                  env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"127.0.0.1:{taken} is already in use" in done.stderr
        assert f"another port with {taken_option}" in done.stderr
        assert "OSVI header to paste" not in done.stdout, "no URL or token announced"


def test_a_relative_data_dir_is_the_users_not_the_projects(tmp_path: Path) -> None:
    """`cd /srv/osvi && OSVI_DATA_DIR=./data osvi up`: the servers run in the project folder,
    so they used to take ./data from there, with another token than the one announced (every
    delivery got 401) and landing in the wrong place."""
    project = CHECKOUT
    assert not (project / "rel-data").exists()
    env = {key: value for key, value in os.environ.items() if key != "OSVI_INGEST_TOKEN"}
    env["OSVI_DATA_DIR"] = "rel-data"
    port, dagster_port = free_port(), free_port()
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(OSVI), "up", "--port", str(port), "--dagster-port", str(dagster_port),
             "--explorer-port", str(free_port())],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until("the ingest API", lambda: httpx.get(f"{base}/readyz").status_code == 200,
                   timeout=60, process=process, log=log)
        token_file = tmp_path / "rel-data" / "ingest-token"
        token = token_file.read_text().strip()
        # named as the user gave it, relative to the user's folder, where it was created
        assert "ingest token: in rel-data/ingest-token" in log.read_text()
        assert token not in log.read_text(), "no token in output that is not a terminal"
        answer = httpx.post(f"{base}/webhooks/crm", content=SAMPLE.read_bytes(),
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        assert list((tmp_path / "rel-data" / "landing").rglob("*.parquet"))
        assert not (project / "rel-data").exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(project / "rel-data", ignore_errors=True)
