"""What the processes `osvi up` supervises print, shaped for the person or the journal reading it
(pure: no I/O, unit-tested).

- Plain text when the output is not a terminal: Dagster's services colour their lines whatever
  their output is, and ANSI codes in journald or a log file are noise.
- A traceback under a Dagster service's log record (the daemon's ~40 lines each time it cannot
  reach a restarting code server) becomes one line naming the exception, unless verbose.
"""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# A new log record: Dagster's "2026-12-06 03:39:58 +0000 - ...", uvicorn's "INFO ...", ours, a
# Python warning ("/path/x.py:12: UserWarning: ...", Dagster's way to report a code location
# it cannot load).
RECORD_START = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|[A-Z]{4,8} |warning: |error: "
                          r"|\S+\.py:\d+: \w*Warning: )")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Unavailable)\b:?.*$")
# Python's own traceback header, and Dagster's (a SerializableErrorInfo printed as text).
TRACEBACKS = ("Traceback (most recent call last):", "Stack Trace:")
HIDDEN = "(traceback hidden: osvi up --verbose shows it)"


class LineShaper:
    """Feed a child's lines one at a time; emit what `feed` and `flush` return, in order.
    `flush` is called when the child has been quiet for a moment and at its end, so a record's
    continuation lines are held at most that long."""

    def __init__(self, *, plain: bool, collapse_tracebacks: bool) -> None:
        self._plain = plain
        self._collapse = collapse_tracebacks
        self._in_record = False
        self._held: list[str] = []

    def feed(self, line: str) -> list[str]:
        if self._plain:
            line = ANSI.sub("", line)
        if not self._collapse:
            return [line]
        if RECORD_START.match(ANSI.sub("", line)):
            emitted = self.flush()
            self._in_record = True
            return [*emitted, line]
        if not self._in_record:
            return [line]
        self._held.append(line)
        return []

    def flush(self) -> list[str]:
        held, self._held = self._held, []
        if not any(line.strip() in TRACEBACKS for line in held):
            return held
        exceptions = [line.strip() for line in held if EXCEPTION.match(line.strip())]
        reason = exceptions[-1] if exceptions else "an exception"
        return [f"    {reason} {HIDDEN}"]
