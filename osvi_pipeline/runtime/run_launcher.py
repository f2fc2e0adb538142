"""A Dagster run launcher whose run workers start warm (issue 31, freshness).

Dagster's default launcher asks the code server to start each run in a new `spawn`ed Python,
which imports Dagster, DuckDB, PyArrow and the rest afresh: about half of a micro-batch's
seconds at the landing sensor's pace. This launcher forks each run worker from a
`multiprocessing` forkserver that imported those libraries once, then runs the run exactly as
`dagster api execute_run` does (the command Dagster's container launchers run).

Only third-party libraries are preloaded: each run imports osvi's own modules and loads the
code location from disk, so a restarted code server's new definitions and SQL models are what
the next run executes, as with Dagster's launcher. A new Dagster or library version needs the
daemon restarted (docs/deploy.md says to restart it on every upgrade).

Runs execute in the process tree of the process that launches them: the daemon (`osvi up`,
or the `daemon` role of `--production`) on the pipeline host.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Mapping
from multiprocessing.context import ForkServerContext
from typing import Any

import dagster as dg
from dagster._cli.api import execute_run_command
from dagster._core.execution.run_cancellation_thread import _kill_on_cancel
from dagster._core.instance import InstanceRef
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData
from dagster._utils.interrupts import setup_interrupt_handlers

# Where the launcher records its run worker: "<host>:<pid>:<start time in clock ticks>", the
# start time telling the worker from a later process that reuses the pid; only the daemon's
# host signals or judges it (a webserver elsewhere cancels through the run's status).
WORKER_TAG = "osvi/run_worker"
# Imported once by the forkserver: what a micro-batch run imports that is not osvi's (listed
# from the modules one run added to sys.modules; one left out costs time, not correctness).
PRELOAD = (
    "dagster", "dagster._cli.api", "dagster._core.execution.api",
    "dagster._core.execution.plan.execute_plan", "dagster._core.executor.in_process",
    "dagster._core.storage.sqlite_storage", "dagster._core.storage.local_compute_log_manager",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.event_log.polling_event_watcher",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage", "dagster._daemon",
    "dagster_postgres", "dagster_duckdb", "sqlalchemy", "alembic", "duckdb", "numpy", "pandas",
    "pyarrow", "pyarrow.parquet", "pyarrow.compute", "pydantic_settings", "sqlglot",
    "sqlglot.dialects.duckdb", "orjson", "phonenumbers", "apprise", "upath", "fsspec",
    "structlog", "rich", "watchdog.observers", "pygments", "zstandard", "dateutil",
)



def _forkserver() -> ForkServerContext:
    """multiprocessing's process-wide forkserver, which imports PRELOAD when it starts (on the
    first launch; restarted by multiprocessing should it die)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Configured in the shipped dagster.yaml (`run_launcher:`)."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        super().__init__()  # type: ignore[no-untyped-call]  # Dagster's is untyped

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData,
                          config_value: Mapping[str, Any]) -> WarmRunLauncher:
        return cls(inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:
            raise dg.DagsterInvariantViolationError(f"run {run.run_id} has no code origin")
        args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id,
                              instance_ref=self._instance.get_ref())
        worker = _forkserver().Process(target=execute_run, name=f"run {run.run_id}",
                                       args=(dg.serialize_value(args),))
        worker.start()  # (multiprocessing reaps it: the next start polls finished children)
        assert worker.pid is not None
        # A worker already gone is recorded with no start time: never alive, so failed.
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: _worker_id(worker.pid)})
        self._instance.report_engine_event(
            f"Started a run worker (pid {worker.pid}) from osvi's warm forkserver.", run,
            cls=self.__class__)

    def terminate(self, run_id: str) -> bool:
        """Marks the run canceling; its worker's cancellation thread sees that within the
        instance's poll interval (from any host). On this host the worker is interrupted now."""
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        pid = _live_worker_pid(run.tags.get(WORKER_TAG, ""))
        if pid is not None:
            os.kill(pid, signal.SIGINT)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Where /proc tells a live worker from a pid reused since (Linux); elsewhere (a
        developer's macOS) run monitoring leaves started runs alone, as with Dagster's."""
        return os.path.exists("/proc/self/stat")

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        """A worker is on the host of the daemon that launched it: gone means failed (run
        monitoring then marks the run failed and the retry policy runs it again)."""
        recorded = run.tags.get(WORKER_TAG, "")
        host, pid, _ = _parse_worker(recorded)
        if pid is None or host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.UNKNOWN,
                                        f"run worker {recorded or 'not recorded'}: not on "
                                        "this host")
        if _live_worker_pid(recorded) is not None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {pid} on {host} is gone")


def execute_run(serialized_args: str) -> None:
    """In the forked worker: `dagster api execute_run`, plus a thread that interrupts the run
    when it is marked canceling (from the UI, on any host)."""
    setup_interrupt_handlers()  # SIGTERM as SIGINT: a stopped worker cancels its run
    args = dg.deserialize_value(serialized_args, ExecuteRunArgs)
    assert isinstance(args.instance_ref, InstanceRef)
    stop_watching = threading.Event()
    threading.Thread(target=_kill_on_cancel, name="kill-on-cancel", daemon=True,
                     args=(args.instance_ref, args.run_id, stop_watching)).start()
    try:
        execute_run_command.main([serialized_args], standalone_mode=False)
    finally:
        stop_watching.set()


def _start_ticks(pid: int) -> str | None:
    """The process's start time (/proc/<pid>/stat field 22), None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if fields[0] != "Z" else None  # a zombie has exited


def _worker_id(pid: int) -> str:
    """`<host>:<pid>:<start time>` (no start time: already gone)."""
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"


def _parse_worker(recorded: str) -> tuple[str, int | None, str]:
    """A WORKER_TAG value as (host, pid, start time)."""
    host, pid_text, ticks = [*recorded.split(":"), "", ""][:3]
    return host, int(pid_text) if pid_text.isdigit() else None, ticks


def _live_worker_pid(recorded: str) -> int | None:
    """The worker's pid when it runs on this host; None when it is gone or elsewhere."""
    host, pid, ticks = _parse_worker(recorded)
    if host != socket.gethostname() or pid is None or not ticks:
        return None
    return pid if _start_ticks(pid) == ticks else None
