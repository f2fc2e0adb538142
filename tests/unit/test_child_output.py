"""What `osvi up` passes on from its children: plain text off a terminal, a Dagster service's
traceback folded into one line unless verbose."""

from __future__ import annotations

from osvi_cli.child_output import HIDDEN, LineShaper

ESC = "\x1b"
# What the daemon printed after the code server was killed -9 (shortened; the real block is
# ~40 lines per sensor tick).
DAEMON = [
    f"{ESC}[32m2026-12-06 03:39:58 +0000{ESC}[0m - dagster.daemon.SensorDaemon - "
    f"{ESC}[34mERROR{ESC}[0m - {ESC}[31mSensor tick caught an error{ESC}[0m",
    "Traceback (most recent call last):",
    '  File "/venv/dagster/_grpc/client.py", line 210, in _query',
    "    return self._get_response(method, request=request_type(**kwargs), timeout=timeout)",
    "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:",
    "\tstatus = StatusCode.UNAVAILABLE",
    ">",
    "",
    "The above exception was the direct cause of the following exception:",
    "",
    "Traceback (most recent call last):",
    '  File "/venv/dagster/_daemon/sensor.py", line 309, in __exit__',
    "dagster._core.errors.DagsterUserCodeUnreachableError: Unable to reach the user code "
    "server for sensor landing_sensor. Sensor will resume execution once the server is "
    "available.",
    "2026-12-06 03:40:03 +0000 - dagster - INFO - landing_job - 1234 - a run's summary",
]


def shaped(shaper: LineShaper, lines: list[str]) -> list[str]:
    out = [emitted for line in lines for emitted in shaper.feed(line)]
    return out + shaper.flush()


def test_a_traceback_becomes_one_line_naming_the_last_exception() -> None:
    out = shaped(LineShaper(plain=True, collapse_tracebacks=True), DAEMON)
    assert out == [
        "2026-12-06 03:39:58 +0000 - dagster.daemon.SensorDaemon - ERROR - Sensor tick caught "
        "an error",
        "    dagster._core.errors.DagsterUserCodeUnreachableError: Unable to reach the user code "
        "server for sensor landing_sensor. Sensor will resume execution once the server is "
        f"available. {HIDDEN}",
        "2026-12-06 03:40:03 +0000 - dagster - INFO - landing_job - 1234 - a run's summary",
    ]


def test_verbose_keeps_every_line_and_a_terminal_keeps_its_colours() -> None:
    assert shaped(LineShaper(plain=False, collapse_tracebacks=False), DAEMON) == DAEMON


def test_plain_output_has_no_escape_codes() -> None:
    out = shaped(LineShaper(plain=True, collapse_tracebacks=False), DAEMON)
    assert len(out) == len(DAEMON) and not any(ESC in line for line in out)


def test_a_multi_line_record_without_a_traceback_is_kept_whole() -> None:
    lines = ["2026-12-06 03:39:58 +0000 - dagster - WARNING - two lines:", "  the second one",
             "INFO uvicorn.error: Shutting down"]
    assert shaped(LineShaper(plain=True, collapse_tracebacks=True), lines) == lines


def test_lines_before_any_record_pass_at_once() -> None:
    shaper = LineShaper(plain=True, collapse_tracebacks=True)
    assert shaper.feed("  a warning's source line") == ["  a warning's source line"]


def test_dagsters_stack_trace_under_a_python_warning_is_folded_too() -> None:
    """What a daemon prints while its code server is not up yet."""
    lines = [
        "/venv/dagster/_core/workspace/context.py:1174: UserWarning: Error loading repository "
        "location osvi_pipeline:dagster._core.errors.DagsterUserCodeUnreachableError",
        "",
        "Stack Trace:",
        '  File "/venv/dagster/_core/workspace/context.py", line 1164, in _load_location',
        "The above exception was caused by the following exception:",
        "grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:",
        "\tstatus = StatusCode.UNAVAILABLE",
        ">",
        "  warnings.warn(",
    ]
    out = shaped(LineShaper(plain=True, collapse_tracebacks=True), lines)
    assert out == [lines[0], "    grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that "
                             f"terminated with: {HIDDEN}"]
