"""What runs in production runs from the wheel: build it with `make wheel`, install it into a
fresh venv outside the checkout, import history and materialize, then upgrade it to the wheel
of a newer commit, as docs/deploy.md's install and upgrade steps say. Installed that way the
pipeline once had no SQL models (they were read from the source tree) and failed on
`daily_summary`; and every build was 0.1.0, so pip answered "already installed"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb
import httpx
import pytest
from packaging.version import Version

from osvi_testkit.processes import free_port, wait_until
from tests.support.config import CHECKOUT, TOKEN, sample_payload_bytes

# The copy keeps .git: the version comes from it (setuptools-scm).
SKIP = shutil.ignore_patterns(".venv", "data", "build", "dist", "*.egg-info", "__pycache__",
                              ".*_cache", ".hypothesis", "benchmarks")


def make_wheel(source: Path) -> Path:
    """`make wheel`, with this test run's venv standing in for the copy's .venv."""
    before = set((source / "dist").glob("osvi_pipeline-*.whl"))
    subprocess.run(["make", "-C", str(source), "wheel", f"VENV={CHECKOUT / '.venv'}"],
                   check=True, timeout=300, capture_output=True)
    assert not (source / "build").exists(), "make wheel leaves no build/ behind"
    [wheel] = set((source / "dist").glob("osvi_pipeline-*.whl")) - before
    return wheel


def version_of(osvi: Path, env: dict[str, str]) -> Version:
    done = subprocess.run([str(osvi), "--version"], env=env, check=True, capture_output=True,
                          text=True)
    name, _, version = done.stdout.strip().partition(" ")
    assert name == "osvi-pipeline", done.stdout
    return Version(version)


@pytest.mark.slow
def test_the_wheel_alone_ingests_and_materializes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(CHECKOUT, source, ignore=SKIP)
    wheel = make_wheel(source)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
         "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    # pip --python installs into the new venv: packages, package data and the `osvi` script.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--quiet", "--no-deps", str(wheel)], check=True, timeout=300)
    # The dependencies come from the test environment's site-packages; a .pth line adds the
    # folder without running its .pth files, so the checkout's editable install stays out.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    osvi = venv / "bin" / "osvi"

    work = tmp_path / "elsewhere"  # nothing of the checkout nearby
    work.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OSVI_", "PYTHON"))}
    env.update({"OSVI_DATA_DIR": str(work / "data"), "OSVI_INGEST_TOKEN": TOKEN})
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import osvi_pipeline, dbt_like_sql; print(osvi_pipeline.__file__)"],
                           cwd=work, env=env, check=True, capture_output=True, text=True)
    assert where.stdout.startswith(str(site)), where.stdout

    history = work / "history.jsonl"
    history.write_text(json.dumps(json.loads(sample_payload_bytes())) + "\n")
    for command in (["import", str(history), "--integration", "crm"], ["materialize"]):
        done = subprocess.run([str(osvi), *command], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    with duckdb.connect(str(work / "data" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select campaign, calls from campaign_daily").fetchall() == [
            ("june-renewals", 1)]
        assert con.execute("select sum(calls) from daily_summary").fetchall() == [(1,)]

    # The explorer's templates, stylesheet and script ship in the wheel too.
    port = free_port()
    server = subprocess.Popen([str(osvi), "explore", "--port", str(port)], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("the explorer from the wheel", lambda: httpx.get(
            f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200, timeout=60,
            process=server)
        for path in ("/?start=2020-01-01", "/static/explorer.js", "/static/explorer.css"):
            assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30).status_code == 200
        assert "june-renewals" in httpx.get(f"http://127.0.0.1:{port}/?start=2020-01-01",
                                            timeout=30).text
    finally:
        server.terminate()
        server.wait(30)

    # The upgrade: a new commit, its wheel, pip install of it (docs/deploy.md, "Upgrades").
    first = version_of(osvi, env)
    assert str(first) in wheel.name
    git = ["git", "-C", str(source), "-c", "user.name=osvi test", "-c",
           "user.email=test@osvi.invalid"]
    subprocess.run([*git, "commit", "--quiet", "--allow-empty", "-m", "a newer commit"],
                   check=True)
    newer = make_wheel(source)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--quiet", "--no-deps", "--upgrade", str(newer)], check=True,
                   timeout=300)
    upgraded = version_of(osvi, env)
    assert upgraded > first and str(upgraded) in newer.name
    done = subprocess.run([str(osvi), "materialize"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
