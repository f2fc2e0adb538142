"""Landing on object storage (OSVI_LANDING_URL=s3://...), against a real HTTP S3 endpoint
(moto's server mode): several `osvi serve` replicas with their own disks, a replica killed -9
and restarted, the store unreachable, a bad bucket or bad credentials, a foreign object in the
prefix, and the warehouse built from the bucket and published there, opened remotely by an
analyst's DuckDB (1.4.4 with its httpfs extension).

The promise under test: every delivery answered 200 is in the bucket exactly once, and the
warehouse holds each acknowledged call once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import orjson
import pytest

from ingest_api.journal import DurableLanding
from osvi_core.landing_store import S3LandingStore
from osvi_pipeline.definitions import build_definitions
from osvi_pipeline.defs.tags import LOAD_TAG, NEW_FILES
from osvi_testkit.processes import OSVI, ServerProcess, free_port, wait_until
from osvi_testkit.s3 import (
    DroppingProxy,
    S3Endpoint,
    moto_s3,
    moto_s3_refusing_credentials,
)
from tests.support.config import CHECKOUT, make_settings
from tests.support.load import LoadGenerator
from tests.support.pipeline import delivery, landing_sensor_evaluator, query, run

pytestmark = pytest.mark.slow
TOKEN = "object-store-token-abcdefgh"
BUCKET = "osvi-landing"
PREFIX = "landing"
LANDING_URL = f"s3://{BUCKET}/{PREFIX}"
OLDER_DUCKDB = CHECKOUT / ".venv" / "duckdb-1.4"
HTTPFS = OLDER_DUCKDB / "duckdb_ext" / "extensions" / "v1.4.4" / "linux_amd64" / \
    "httpfs.duckdb_extension"


@pytest.fixture
def s3() -> Iterator[S3Endpoint]:
    with moto_s3() as endpoint:
        endpoint.create_bucket(BUCKET)
        yield endpoint


def _replica_env(endpoint_url: str, **extra: str) -> dict[str, str]:
    return {"OSVI_LANDING_URL": LANDING_URL, "OSVI_JOURNAL_SEGMENT_SECONDS": "0.3",
            "AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "osvi-test-key",
            "AWS_SECRET_ACCESS_KEY": "osvi-test-secret", "AWS_REGION": "us-east-1", **extra}


def _stop(replica: ServerProcess) -> None:
    if replica.process is not None and replica.process.poll() is None:
        replica.kill(signal.SIGTERM)  # graceful: publishes what its journal holds


def test_three_replicas_one_killed_every_ack_in_the_bucket_once_and_in_the_warehouse(
        tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    replicas = [ServerProcess(tmp_path / f"replica-{index}", free_port(), TOKEN,
                              tmp_path / f"replica-{index}.log", _replica_env(s3.url))
                for index in range(3)]
    for replica in replicas:
        replica.start()
    load = LoadGenerator([replica.url for replica in replicas], TOKEN, threads=6,
                         per_thread=400)
    try:
        load.start()
        load.wait_for_acks(500)
        assert replicas[1].kill(signal.SIGKILL) == -signal.SIGKILL  # mid-load
        load.wait_for_acks(load.acked_count() + 300)  # the others keep answering
        replicas[1].start()  # on its disk: publishes what it had acknowledged
        load.join()
    finally:
        for replica in replicas:
            _stop(replica)

    assert load.statuses.get("200", 0) == len(load.acked) >= 1500, load.statuses
    assert set(load.statuses) - {"200"}, "the load never met the killed replica"
    landed = s3.landed_delivery_ids(BUCKET, PREFIX)
    assert not set(load.acked) - set(landed), "acknowledged deliveries missing in the bucket"
    assert max(landed.values()) == 1, "a delivery is in the bucket twice"
    for replica in replicas:
        assert not list(replica.data_dir.rglob("*.journal")), "journal not fully published"
        assert not (replica.data_dir / "landing").exists(), "landing written locally"
    names = [key.rsplit("/", 1)[-1] for key in s3.keys(BUCKET, PREFIX)]
    assert len({name.split("-")[0] for name in names}) == 3, "one replica id per replica"

    # The pipeline reads the bucket: a foreign object in the prefix is set aside with its
    # reason, the day still loads, and each acknowledged call is in `calls` once.
    today = datetime.now(UTC).date().isoformat()
    s3.put(BUCKET, f"{PREFIX}/received_date={today}/notes.parquet", b"not parquet at all")
    for name, value in _replica_env(s3.url).items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path / "pipeline", landing_url=LANDING_URL,
                             publish_url=f"s3://{BUCKET}/published/warehouse.duckdb")
    run(settings, today)
    calls = dict(query(settings, "select call_log_id, delivery_count from calls"))
    # A delivery stored by the killed replica but never answered is there too (allowed:
    # OSVI saw a failure); every acknowledged one must be.
    assert set(load.acked.values()) <= set(calls)
    unanswered = sum(count for status, count in load.statuses.items() if not status.isdigit())
    assert len(calls) - len(load.acked) <= unanswered
    assert set(calls.values()) == {1}
    assert query(settings, "select count(*) from deliveries") == [(len(landed),)]
    quarantined = s3.keys(BUCKET, f"{PREFIX}/_quarantine/landing-corrupt/")
    assert any(key.endswith(f"received_date={today}-notes.parquet") for key in quarantined)
    reason = s3.get(BUCKET, next(key for key in quarantined if key.endswith(".reason.txt")))
    assert b"unreadable Parquet" in reason

    # An analyst's own DuckDB (1.4.4, httpfs from its wheel) attaches the published copy.
    remote = _attach_remotely(s3, f"s3://{BUCKET}/published/warehouse.duckdb",
                              "select count(*), sum(delivery_count) from osvi.calls")
    assert remote == [[len(calls), len(calls)]]


def _attach_remotely(s3: S3Endpoint, url: str, sql: str) -> object:
    script = f"""
import duckdb, json, sys
con = duckdb.connect()
con.execute("load '{HTTPFS}'")
con.execute('''create secret (type s3, key_id 'osvi-test-key', secret 'osvi-test-secret',
               region 'us-east-1', endpoint '{s3.url.removeprefix("http://")}',
               url_style 'path', use_ssl false)''')
con.execute("attach '{url}' as osvi (read_only)")
print(json.dumps(con.execute({sql!r}).fetchall(), default=str))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(OLDER_DUCKDB)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_an_unreachable_store_is_a_backlog_then_503_never_a_loss(
        tmp_path: Path, s3: S3Endpoint) -> None:
    proxy = DroppingProxy(int(s3.url.rsplit(":", 1)[1]))
    replica = ServerProcess(tmp_path / "replica", free_port(), TOKEN, tmp_path / "replica.log",
                            _replica_env(proxy.url, OSVI_BACKLOG_MAX_BYTES="150000"))
    replica.start()
    acked: set[str] = set()
    statuses: list[int] = []

    def send(count: int) -> None:
        with httpx.Client(timeout=10) as client:
            for index in range(count):
                body = orjson.dumps({"call_log_id": f"c{len(statuses)}",
                                     "call_summary": "x" * 400, "n": index})
                response = client.post(f"{replica.url}/webhooks/crm", content=body,
                                       headers={"Authorization": f"Bearer {TOKEN}"})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    acked.add(response.json()["delivery_id"])
                elif response.status_code == 503:
                    assert "OSVI_BACKLOG_MAX_BYTES" in response.json()["error"]
                    assert response.headers["Retry-After"]
                    return

    try:
        send(20)
        wait_until("the first deliveries published",
                   lambda: len(s3.landed_delivery_ids(BUCKET, PREFIX)) == 20, timeout=30)
        proxy.down()
        send(60)  # the store is gone: still acknowledged, into the journal
        assert statuses.count(200) == 80
        wait_until("publication failing as unreachable", lambda: _metric(
            replica.url, 'osvi_landing_publish_failures_total{reason="unreachable"}') >= 1,
            timeout=60)
        assert _metric(replica.url, "osvi_landing_backlog_bytes") > 0
        assert _metric(replica.url, "osvi_landing_backlog_oldest_age_seconds") > 0
        assert httpx.get(f"{replica.url}/readyz").json()["publishing"].startswith("retrying")

        for _ in range(50):  # up to the bound: unready first, then 503
            send(40)
            if statuses[-1] == 503:
                break
            time.sleep(0.4)  # the backlog figure is refreshed by the publisher loop
        assert statuses[-1] == 503, "the backlog bound was never reached"
        ready = httpx.get(f"{replica.url}/readyz")
        assert ready.status_code == 503 and "OSVI_BACKLOG_MAX_BYTES" in ready.text

        proxy.up()  # the store is back: the backlog drains, oldest first
        wait_until("the backlog drained",
                   lambda: _metric(replica.url, "osvi_landing_backlog_bytes") < 150000 * 0.8
                   and httpx.get(f"{replica.url}/readyz").status_code == 200, timeout=120)
        send(5)
        assert statuses[-1] == 200
    finally:
        _stop(replica)
        proxy.close()
    landed = s3.landed_delivery_ids(BUCKET, PREFIX)
    assert acked and not acked - set(landed), "acknowledged deliveries missing in the bucket"
    assert max(landed.values()) == 1, "a delivery is in the bucket twice"


def _serve_fails(tmp_path: Path, env: dict[str, str], command: str = "serve"
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OSVI), command, "--port", str(free_port())], text=True,
                          capture_output=True, timeout=60,
                          env={**os.environ, "OSVI_DATA_DIR": str(tmp_path / "data"),
                               "OSVI_INGEST_TOKEN": TOKEN, **env})


def test_serve_refuses_a_missing_bucket_and_refused_credentials(
        tmp_path: Path, s3: S3Endpoint) -> None:
    missing = _serve_fails(tmp_path, {**_replica_env(s3.url),
                                      "OSVI_LANDING_URL": "s3://no-such-bucket/landing"})
    assert missing.returncode == 2
    assert "OSVI_LANDING_URL=s3://no-such-bucket/landing: the bucket 'no-such-bucket' does " \
           "not exist" in missing.stderr
    up = _serve_fails(tmp_path, {**_replica_env(s3.url),
                                 "OSVI_LANDING_URL": "s3://no-such-bucket/landing"}, "up")
    assert up.returncode == 2 and "the bucket 'no-such-bucket' does not exist" in up.stderr
    with moto_s3_refusing_credentials(tmp_path / "moto.log") as strict:
        refused = _serve_fails(tmp_path, _replica_env(strict.url))
    assert refused.returncode == 2
    assert "credentials were refused (AWS_ACCESS_KEY_ID" in refused.stderr
    assert "osvi-test-secret" not in refused.stderr + refused.stdout


def test_the_landing_sensor_sees_new_objects_in_the_bucket(
        tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _replica_env(s3.url).items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path, landing_url=LANDING_URL, timezone="UTC",
                             first_day=date(2024, 1, 1))
    defs = build_definitions(settings)
    evaluate = landing_sensor_evaluator(defs, dg.DagsterInstance.ephemeral())
    journal = DurableLanding(tmp_path / "journal", S3LandingStore(LANDING_URL), replica="r1")
    now = datetime.now(UTC)

    assert evaluate(None)[0] == []
    journal.append([delivery(now, {"call_log_id": "first"})])
    journal.drain()
    requests, cursor = evaluate(None)
    assert [(r.partition_key, r.tags[LOAD_TAG]) for r in requests] == [
        (now.date().isoformat(), NEW_FILES)]
    assert evaluate(cursor)[0] == [], "nothing new, no run"
    journal.append([delivery(now, {"call_log_id": "second"})])
    journal.drain()
    again, _ = evaluate(cursor)
    assert [r.partition_key for r in again] == [now.date().isoformat()]
    assert again[0].run_key != requests[0].run_key


def test_a_closed_days_objects_are_compacted_in_the_bucket(
        tmp_path: Path, s3: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each segment a replica publishes is an object: a closed day's become one, each delivery
    in the bucket once, and the warehouse reads every call once before and after."""
    for name, value in _replica_env(s3.url).items():
        monkeypatch.setenv(name, value)
    day = datetime(2026, 11, 26, 9, tzinfo=UTC)
    settings = make_settings(tmp_path, landing_url=LANDING_URL, timezone="UTC",
                             first_day=day.date())
    journal = DurableLanding(tmp_path / "journal", S3LandingStore(LANDING_URL), replica="r1")
    for index in range(18):  # 18 segments: 18 objects of the day
        journal.append([delivery(day + timedelta(minutes=index),
                                 {"call_log_id": f"call-{index}-{part}"}) for part in range(3)])
        journal.drain()
    folder = f"{PREFIX}/received_date={day.date()}/"
    assert len(s3.keys(BUCKET, folder)) == 18
    run(settings, day.date().isoformat(), only_new_files=True)  # the sensor's micro-batch
    run(settings, day.date().isoformat())  # the daily run: loads again, then compacts

    [part] = s3.keys(BUCKET, folder)
    assert part.rsplit("/", 1)[-1].startswith("compacted-")
    landed = s3.landed_delivery_ids(BUCKET, PREFIX)
    assert len(landed) == 54 and set(landed.values()) == {1}
    assert query(settings, "select count(*), count(distinct call_log_id) from calls") == [
        (54, 54)]
    run(settings, day.date().isoformat())  # a rebuild from the part alone
    assert query(settings, "select count(*) from deliveries") == [(54,)]
