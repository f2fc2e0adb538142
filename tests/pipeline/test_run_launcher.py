"""The warm run launcher on a real Dagster instance (the shipped dagster.yaml's launcher, SQLite
storage): runs start from the forkserver with the libraries already imported, run the job's code
as it is on disk now, can be canceled, and a killed worker is reported failed."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import WorkerStatus
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

from osvi_pipeline.runtime.instance import SHIPPED_CONFIG, sqlite_storage
from osvi_pipeline.runtime.run_launcher import WORKER_TAG, WarmRunLauncher

JOB_MODULE = """
import json, os, sys, time
import dagster as dg

VERSION = {version!r}

@dg.op(config_schema={{"out": str, "sleep": float}})
def record(context):
    # duckdb is imported by neither this module nor Dagster: only a warm worker has it.
    warm = "duckdb" in sys.modules
    time.sleep(context.op_config["sleep"])
    with open(context.op_config["out"], "w") as out:
        json.dump({{"version": VERSION, "pid": os.getpid(), "parent": os.getppid(),
                   "warm": warm}}, out)

@dg.job(executor_def=dg.in_process_executor)  # as osvi's jobs
def recorder():
    record()
"""


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(SHIPPED_CONFIG.read_text(encoding="utf-8")
                                       + sqlite_storage(home), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def _write_job(folder: Path, version: str) -> None:
    (folder / "launcher_job.py").write_text(
        textwrap.dedent(JOB_MODULE.format(version=version)), encoding="utf-8")


def _launch(instance: dg.DagsterInstance, folder: Path, out: Path,
            sleep: float = 0.0) -> str:
    """A run of launcher_job.recorder as the daemon would launch it (origin: module on disk)."""
    sys.path.insert(0, str(folder))
    try:
        from launcher_job import recorder  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("launcher_job", None)
    origin = JobPythonOrigin("recorder", RepositoryPythonOrigin(
        executable_path=sys.executable,
        code_pointer=ModuleCodePointer("launcher_job", "recorder", str(folder)),
        entry_point=["dagster"]))
    run = instance.create_run_for_job(
        recorder, job_code_origin=origin,
        run_config={"ops": {"record": {"config": {"out": str(out), "sleep": sleep}}}})
    instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    return run.run_id


def _wait_for(instance: dg.DagsterInstance, run_id: str,
              statuses: set[dg.DagsterRunStatus], seconds: float = 60) -> dg.DagsterRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.status in statuses:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {run.status}")


def test_a_run_starts_warm_and_runs_the_code_on_disk_now(
        instance: dg.DagsterInstance, tmp_path: Path) -> None:
    assert isinstance(instance.run_launcher, WarmRunLauncher)
    _write_job(tmp_path, "first")
    first = _launch(instance, tmp_path, tmp_path / "first.json")
    run = _wait_for(instance, first, {dg.DagsterRunStatus.SUCCESS,
                                      dg.DagsterRunStatus.FAILURE})
    assert run.status == dg.DagsterRunStatus.SUCCESS
    recorded = json.loads((tmp_path / "first.json").read_text())
    assert recorded["warm"] is True  # the forkserver had imported DuckDB
    assert recorded["parent"] != os.getpid()  # forked by the forkserver, not by the launcher
    assert run.tags[WORKER_TAG].startswith(f"{socket.gethostname()}:{recorded['pid']}:")

    _write_job(tmp_path, "second")  # a new release of the code location
    second = _launch(instance, tmp_path, tmp_path / "second.json")
    assert _wait_for(instance, second, {dg.DagsterRunStatus.SUCCESS}).status \
        == dg.DagsterRunStatus.SUCCESS
    assert json.loads((tmp_path / "second.json").read_text())["version"] == "second"


def test_a_run_is_canceled_and_a_killed_worker_is_reported_failed(
        instance: dg.DagsterInstance, tmp_path: Path) -> None:
    _write_job(tmp_path, "slow")
    canceled = _launch(instance, tmp_path, tmp_path / "never.json", sleep=60)
    run = _wait_for(instance, canceled, {dg.DagsterRunStatus.STARTED})
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    assert instance.run_launcher.terminate(canceled)
    assert _wait_for(instance, canceled, {dg.DagsterRunStatus.CANCELED}, seconds=30)
    assert not (tmp_path / "never.json").exists()

    killed = _launch(instance, tmp_path, tmp_path / "never.json", sleep=60)
    run = _wait_for(instance, killed, {dg.DagsterRunStatus.STARTED})
    elsewhere = run.with_tags({WORKER_TAG: "another-host" + run.tags[WORKER_TAG][
        len(socket.gethostname()):]})  # the same pid and start time, on another host
    assert instance.run_launcher.check_run_worker_health(elsewhere).status \
        == WorkerStatus.UNKNOWN
    os.kill(int(run.tags[WORKER_TAG].split(":")[1]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING:
        assert time.monotonic() < deadline, "a killed worker still reported running"
        time.sleep(0.1)
    assert instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.FAILED
