"""A PostgreSQL cluster of the test session's own: Debian's binaries, a temp dir, a free
loopback port, password authentication. initdb and pg_ctl refuse to run as root, so under root
they run as the `postgres` user the Debian package creates."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from osvi_testkit.processes import free_port

USER, PASSWORD = "osvi", "pg-test-password-123"


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextmanager
def postgres_server() -> Iterator[tuple[str, int]]:
    """Yields (host, port) of a running cluster with a superuser USER / PASSWORD."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql)")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="osvi-pg-", dir="/tmp"))
    (root / "pwfile").write_text(PASSWORD + "\n")
    if owner:
        entry = pwd.getpwnam(owner)
        for path in (root, root / "pwfile"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    data, port = root / "data", free_port()
    try:
        subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(data), "-U", USER,
                                  f"--pwfile={root / 'pwfile'}", "-A", "scram-sha-256",
                                  "--no-sync"], owner),
                       check=True, capture_output=True, timeout=120)
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                                  "-l", str(root / "log"), "-w", "start"], owner),
                       check=True, capture_output=True, timeout=120)
        yield "127.0.0.1", port
    finally:
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                                  "stop"], owner), capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def create_database(host: str, port: int, name: str) -> str:
    """A fresh database; returns its URL."""
    import psycopg2

    con = psycopg2.connect(host=host, port=port, user=USER, password=PASSWORD,
                           dbname="postgres")
    con.autocommit = True
    with con.cursor() as cursor:
        cursor.execute(f'drop database if exists "{name}"')
        cursor.execute(f'create database "{name}"')
    con.close()
    return f"postgresql://{USER}:{PASSWORD}@{host}:{port}/{name}"
