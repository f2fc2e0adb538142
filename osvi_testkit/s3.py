"""A real S3 endpoint for tests: moto's server mode on a loopback port (HTTP, conditional
writes), a TCP proxy in front of it that can drop every connection (an outage), and readers of
what landed in the bucket."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pyarrow.parquet as pq
from moto.server import ThreadedMotoServer

from osvi_testkit.processes import free_port, wait_until

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "osvi-test-key", "AWS_SECRET_ACCESS_KEY": "osvi-test-secret",
               "AWS_REGION": "us-east-1"}


@dataclass
class S3Endpoint:
    url: str

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this endpoint (the standard AWS_* variables)."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def client(self) -> object:
        return boto3.client("s3", endpoint_url=self.url, region_name=CREDENTIALS["AWS_REGION"],
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        return [item["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])]

    def get(self, bucket: str, key: str) -> bytes:
        response = self.client().get_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
        return bytes(response["Body"].read())

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=data)  # type: ignore[attr-defined]

    def landed_delivery_ids(self, bucket: str, prefix: str) -> Counter[str]:
        """How many times each delivery id is in the landing objects of the bucket."""
        ids: Counter[str] = Counter()
        for key in self.keys(bucket, f"{prefix}/received_date="):
            if key.endswith(".parquet"):
                table = pq.read_table(pyarrow_buffer(self.get(bucket, key)),
                                      columns=["delivery_id"])
                ids.update(table.column("delivery_id").to_pylist())
        return ids


def pyarrow_buffer(data: bytes) -> object:
    import pyarrow as pa

    return pa.BufferReader(data)


@contextmanager
def moto_s3() -> Iterator[S3Endpoint]:
    """moto's S3 in this process, on its own loopback port."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets in module state, shared by every server of this process.
    httpx.post(f"http://{host}:{port}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield S3Endpoint(f"http://{host}:{port}")
    finally:
        server.stop()


@contextmanager
def moto_s3_refusing_credentials(log: Path) -> Iterator[S3Endpoint]:
    """A separate moto server that authenticates every request: the test keys are unknown to
    it, so it answers 403 as AWS does to refused credentials."""
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
             str(port)], env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
            stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until("moto listening", lambda: _listening(port), timeout=30, process=process,
                   log=log)
        yield S3Endpoint(f"http://127.0.0.1:{port}")
    finally:
        process.kill()
        process.wait(10)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


class DroppingProxy:
    """A TCP proxy to an endpoint; `down()` drops every connection (open ones and new ones)
    until `up()`: the object store unreachable, as a network partition shows it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._down = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        self._down.set()
        with self._lock:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def up(self) -> None:
        self._down.clear()

    def close(self) -> None:
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            with self._lock:
                self._connections.difference_update((source, sink))
