"""A token never reaches `osvi serve`'s output unless it was just generated and the output is a
terminal: in production that output is a log (journald, a collector)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
from pathlib import Path

import httpx

from osvi_testkit.processes import OSVI, free_port, wait_until

ENV_TOKEN = "env-token-9f8e7d6c5b4a"
FILE_TOKEN = "integrations-token-1a2b3c4d"


def start_and_stop(data_dir: Path, env_extra: dict[str, str], *, terminal: bool = False) -> bytes:
    """Every byte `osvi serve` writes to stdout and stderr from start to a clean stop."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env.update({"OSVI_DATA_DIR": str(data_dir), **env_extra})
    port = free_port()
    if terminal:
        controller, terminal_end = pty.openpty()
        process = subprocess.Popen([str(OSVI), "serve", "--port", str(port)], env=env,
                                   stdout=terminal_end, stderr=terminal_end)
        os.close(terminal_end)
    else:
        process = subprocess.Popen([str(OSVI), "serve", "--port", str(port)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output = b""

    def healthy() -> bool:
        nonlocal output
        if terminal:  # drain the terminal so the child never blocks on it
            while select.select([controller], [], [], 0)[0]:
                output += os.read(controller, 65536)
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200

    wait_until("osvi serve", healthy, timeout=30, process=process)
    process.send_signal(signal.SIGTERM)
    if terminal:
        process.wait(30)
        while select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child side is closed
                break
            if not chunk:
                break
            output += chunk
        os.close(controller)
        return output
    stdout, stderr = process.communicate(timeout=30)
    return stdout + stderr


def test_a_token_from_the_environment_is_never_printed(tmp_path: Path) -> None:
    output = start_and_stop(tmp_path / "data", {"OSVI_INGEST_TOKEN": ENV_TOKEN})
    assert b"ingest token: OSVI_INGEST_TOKEN" in output
    assert ENV_TOKEN.encode() not in output


def test_a_generated_token_goes_only_to_a_terminal_and_only_once(tmp_path: Path) -> None:
    piped = tmp_path / "piped"
    output = start_and_stop(piped, {})
    token = (piped / "ingest-token").read_text().strip()
    assert token.encode() not in output, "generated, but the output is not a terminal"
    assert f"in {piped / 'ingest-token'}".encode() in output, "it says where the token is"

    on_terminal = tmp_path / "terminal"
    first = start_and_stop(on_terminal, {}, terminal=True)
    token = (on_terminal / "ingest-token").read_text().strip()
    assert first.count(token.encode()) == 1, first.decode(errors="replace")
    again = start_and_stop(on_terminal, {}, terminal=True)
    assert token.encode() not in again, "shown once: the next start points to the file"
    assert b"ingest-token, not shown" in again.replace(b"\r\n", b"")


def test_tokens_of_an_integrations_file_are_never_printed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "integrations.yaml").write_text(
        f'integrations:\n  - name: crm\n    tokens: ["{FILE_TOKEN}"]\n')
    output = start_and_stop(data_dir, {})
    assert b"integrations from" in output
    assert FILE_TOKEN.encode() not in output
