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


CHILD_WITH_A_RUN = """
import subprocess, sys, time
# A run worker, as Dagster's code server spawns one: not waited for by its parent.
subprocess.Popen([sys.executable, "-c",
                  "import sys, time; time.sleep(4); open(sys.argv[1], 'w').write('finished')",
                  sys.argv[1] + ".run"])
try:
    while True:
        time.sleep(0.1)
except KeyboardInterrupt:
    pass  # exits, leaving the run an orphan
"""


def test_a_stop_waits_for_the_runs_the_children_left_behind(tmp_path: Path) -> None:
    """A run in flight when `osvi up` stops outlived it and went on writing the warehouse and
    Dagster's storage after the command had returned (CI saw its run storage still written
    while the benchmark removed the folder). The supervisor adopts it and waits for it."""
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, CHILD_WITH_A_RUN,
                                   str(tmp_path)])
    time.sleep(1.5)
    assert supervisor.poll() is None
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0
    for name in ("ingest", "dagster"):
        assert (tmp_path / f"{name}.run").read_text() == "finished", name
