"""`osvi up`'s supervisor stops its children gracefully on SIGTERM, even when started with
SIGINT ignored (a background job, nohup, some service managers), and on a SIGINT sent to it
alone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import sys, time
try:
    while True:
        time.sleep(0.1)
except KeyboardInterrupt:  # what Ctrl-C gives; the ingest API flushes here
    open(sys.argv[1], "w").write("stopped gracefully")
"""

SUPERVISOR = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
from osvi_cli.supervise import run_together
children = {name: [sys.executable, "-c", sys.argv[1], f"{sys.argv[2]}/{name}"]
            for name in ("ingest", "dagster")}
sys.exit(run_together(children, {}))
"""


def test_sigterm_stops_every_child_gracefully(tmp_path: Path) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, CHILD, str(tmp_path)])
    time.sleep(3)  # the children are running
    assert supervisor.poll() is None
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(30) == 0
    for name in ("ingest", "dagster"):
        assert (tmp_path / name).read_text() == "stopped gracefully", name


def test_sigint_to_the_supervisor_alone_reaches_the_children(tmp_path: Path) -> None:
    """`kill -INT` (no terminal): the children did not get the signal, so it is passed on at
    once (before, they ran on for the 30 s grace period; this child, which stops gracefully
    only on Ctrl-C, then died on the SIGTERM that followed)."""
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, CHILD, str(tmp_path)],
                                  stdin=subprocess.DEVNULL)
    time.sleep(3)
    assert supervisor.poll() is None
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(20) == 0
    for name in ("ingest", "dagster"):
        assert (tmp_path / name).read_text() == "stopped gracefully", name


CHILD_WITH_ORPHANS = """
import multiprocessing, os, subprocess, sys, time

def run(path):  # a run, as Dagster's code server starts one: a multiprocessing spawn child
    time.sleep(4)
    open(path, "w").write("finished")

if __name__ == "__main__":
    multiprocessing.get_context("spawn").Process(target=run, args=(sys.argv[1] + ".run",)).start()
    # Anything else left behind (a killed code server's gRPC process waits out a heartbeat).
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        while True:
            time.sleep(0.1)
    except KeyboardInterrupt:
        os._exit(0)  # gone without waiting for either: they become orphans
"""


def test_a_stop_waits_for_the_runs_the_children_left_behind(tmp_path: Path) -> None:
    """A run in flight when `osvi up` stops outlived it and went on writing the warehouse and
    Dagster's storage after the command had returned (CI saw its run storage still written
    while the benchmark removed the folder). The supervisor adopts the orphans, waits for the
    run to end and stops the others at once (waiting out a gRPC server's heartbeat made a stop
    take 35 s)."""
    script = tmp_path / "child.py"
    script.write_text(CHILD_WITH_ORPHANS)
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR_OF_SCRIPTS, str(script),
                                   str(tmp_path)])
    time.sleep(2)
    assert supervisor.poll() is None
    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0
    assert time.monotonic() - started < 15, "the other orphans were waited for"
    for name in ("ingest", "dagster"):
        assert (tmp_path / f"{name}.run").read_text() == "finished", name


SUPERVISOR_OF_SCRIPTS = """
import sys
from osvi_cli.supervise import run_together
children = {name: [sys.executable, sys.argv[1], f"{sys.argv[2]}/{name}"]
            for name in ("ingest", "dagster")}
sys.exit(run_together(children, {}))
"""
