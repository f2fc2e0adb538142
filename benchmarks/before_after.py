"""This checkout's first run against an earlier revision's, on the same landing data.

`python -m benchmarks.before_after --rev REV [--deliveries N] [--trials K]` checks REV out into a
temporary git worktree, generates N deliveries over 7 days once (benchmarks/pipeline.py), and
times `materialize_days` over them K times for each tree, alternating, each in a fresh child
process on a fresh copy of the landing folder (both trees run on this venv's packages). It
prints the medians and their ratio: a refactoring should leave the ratio within the noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.pipeline import START, generate

CHECKOUT = Path(__file__).resolve().parents[1]
DAYS = 7
# Any layout: osvi_pipeline/runtime/ since issue 26, defs/ since issue 16, the package before.
CHILD = """
import datetime as dt
try:  # before issue 26 (osvi_core, which this venv's editable install also provides, since)
    from ingest_api.settings import load_settings
except ImportError:
    from osvi_core.settings import load_settings
try:
    from osvi_pipeline.runtime.materialize import materialize_days
except ImportError:
    try:
        from osvi_pipeline.defs.materialize import materialize_days
    except ImportError:
        from osvi_pipeline.materialize import materialize_days
result = materialize_days(load_settings(), dt.date.fromisoformat("{first}"),
                          dt.date.fromisoformat("{last}"))
assert all(run.success for run in (result if isinstance(result, list) else [result]))
"""


def first_run(tree: Path, landing_template: Path, work: Path) -> float:
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(landing_template, data / "landing")
    first = START.date()
    code = CHILD.format(first=first, last=first + timedelta(days=DAYS - 1))
    env = {**os.environ, "OSVI_DATA_DIR": str(data), "OSVI_TIMEZONE": "UTC",
           "PYTHONPATH": str(tree)}  # the tree's packages before the editable install
    os.sync()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rev", required=True, help="the earlier revision")
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="osvi-before-after-") as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "add", "--detach", "-q",
                        str(before), args.rev], check=True)
        try:
            generate(work / "landing", work / "payloads.ndjson", args.deliveries, DAYS)
            seconds: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.trials):
                seconds["before"].append(first_run(before, work / "landing", work))
                seconds["after"].append(first_run(CHECKOUT, work / "landing", work))
        finally:
            subprocess.run(["git", "-C", str(CHECKOUT), "worktree", "remove", "--force",
                            str(before)], check=False)
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    for label, values in seconds.items():
        print(f"{label} ({args.rev if label == 'before' else 'this checkout'}): median "
              f"{medians[label]:.1f} s of {', '.join(f'{v:.1f}' for v in values)}")
    print(f"after / before: {medians['after'] / medians['before']:.2f}")


if __name__ == "__main__":
    main()
