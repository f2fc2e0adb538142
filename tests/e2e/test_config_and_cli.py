"""Configuration validation, the integrations file, and the `osvi` command's set-up paths."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from ingest_api.auth import TokenAuthority
from osvi_core.integrations import IntegrationsError, ensure_default_token, load_integrations
from osvi_core.settings import ConfigError, load_settings
from osvi_testkit.processes import OSVI
from tests.support.config import make_settings


def test_bad_environment_is_reported_by_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSVI_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("OSVI_MAX_BODY_BYTES", "-5")
    monkeypatch.setenv("OSVI_DUCKDB_STORAGE_VERSION", "1.4")
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert "OSVI_TIMEZONE: unknown IANA time zone 'Mars/Olympus'" in message
    assert "OSVI_MAX_BODY_BYTES" in message
    assert "OSVI_DUCKDB_STORAGE_VERSION: a DuckDB release written vX.Y.Z" in message
    monkeypatch.setenv("OSVI_DUCKDB_STORAGE_VERSION", "v1.1.3")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "OSVI_DUCKDB_STORAGE_VERSION: v1.2.0 or later" in str(error.value)
    monkeypatch.setenv("OSVI_DUCKDB_STORAGE_VERSION", "v1.10.0")  # compared as numbers
    monkeypatch.delenv("OSVI_TIMEZONE")
    monkeypatch.delenv("OSVI_MAX_BODY_BYTES")
    assert load_settings().duckdb_storage_version == "v1.10.0"


def test_serve_refuses_bad_configuration_with_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "OSVI_DATA_DIR": str(tmp_path), "OSVI_TIMEZONE": "Nowhere/Land"}
    result = subprocess.run([str(OSVI), "serve", "--port", "1"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "OSVI_TIMEZONE" in result.stderr and "Traceback" not in result.stderr


def test_generated_token_is_private_and_stable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ingest_token=None)
    token, generated = ensure_default_token(settings)
    assert generated and len(token) >= 32
    assert stat.S_IMODE(settings.layout.token_file.stat().st_mode) == 0o600
    assert ensure_default_token(settings) == (token, False)


def test_integrations_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "integrations:\n"
        "  - name: crm\n"
        "    tokens: [\"long-enough-token\"]\n"
        "  - name: crm\n"
        "    tokens: [\"short\"]\n"
        "  - name: sheet\n"
        "    mode: template\n"
        "    tokens: [\"another-long-token\"]\n"
        "    template: '{\"id\": \"{{call_infos.call_log_id}}\"}'\n"
        "  - name: \"bad name\"\n"
        "    tokens: [\"third-long-token\"]\n"
        "    colour: blue\n",
        encoding="utf-8",
    )
    with pytest.raises(IntegrationsError) as error:
        load_integrations(path)
    lines = str(error.value).splitlines()
    assert f"{path}:5: tokens: every token must be at least 8 characters" in lines
    assert any(line.startswith(f"{path}:9: template:") and "call_infos" in line for line in lines)
    assert any(line.startswith(f"{path}:10: name:") for line in lines)
    assert f"{path}:12: colour: is not a known setting" in str(error.value)


def test_an_integration_name_or_key_given_twice_is_refused_naming_both_lines(
        tmp_path: Path) -> None:
    """The later of two same-named integrations (or of two `name:` keys) used to win silently,
    with its tokens."""
    path = tmp_path / "integrations.yaml"
    path.write_text(
        "integrations:\n"
        "  - name: crm\n"
        "    tokens: [\"first-crm-token\"]\n"
        "  - name: crm\n"
        "    tokens: [\"second-crm-token\"]\n"
        "  - name: sheet\n"
        "    name: other\n"
        "    tokens: [\"sheet-token-123\"]\n"
        "    tokens: [\"sheet-token-456\"]\n",
        encoding="utf-8")
    with pytest.raises(IntegrationsError) as error:
        load_integrations(path)
    lines = str(error.value).splitlines()
    assert f"{path}:4: integration name 'crm' is used twice (lines 2 and 4)" in lines
    assert f"{path}:7: 'name' is set twice in the same place (lines 6 and 7)" in lines
    assert f"{path}:9: 'tokens' is set twice in the same place (lines 8 and 9)" in lines
    assert "-token" not in str(error.value), "no token in the message"


@pytest.mark.parametrize(("setting", "value"), [
    ("url_template", "/x/{{a"),
    ("url_template", "/leads/{{crm_id}}/calls/a}}"),
    ("template", "'{\"id\": \"{{call_info.call_log_id\"}'"),
])
def test_an_unclosed_placeholder_is_refused(tmp_path: Path, setting: str, value: str) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text("integrations:\n  - name: crm\n    tokens: [\"long-enough-token\"]\n"
                    f"    {setting}: {value}\n", encoding="utf-8")
    with pytest.raises(IntegrationsError) as error:
        load_integrations(path)
    assert str(error.value).startswith(f"{path}:4: {setting}: placeholder not closed")


def test_integrations_check_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("integrations:\n  - name: crm\n    tokens: [\"long-enough-token\"]\n"
                    "    contract: {structured_output: freeze}\n")
    ok = subprocess.run([str(OSVI), "integrations", "check", str(good)], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0 and "crm" in ok.stdout and "frozen=structured_output" in ok.stdout
    for contract, message in (("{data_capture: frozen}", "contract.data_capture: Input should "
                                                         "be 'evolve' or 'freeze'"),
                              ("{call_trigger_data: freeze}", "contract.call_trigger_data: is "
                                                              "not a section a contract covers")):
        good.write_text("integrations:\n  - name: crm\n    tokens: [\"long-enough-token\"]\n"
                        f"    contract: {contract}\n")
        refused = subprocess.run([str(OSVI), "integrations", "check", str(good)],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and f"{good}:4: {message}" in refused.stderr, (
            refused.stderr)
    bad = tmp_path / "bad.yaml"
    bad.write_text("integrations:\n  - name: crm\n    mode: sometimes\n    tokens: [\"x\"]\n")
    failed = subprocess.run([str(OSVI), "integrations", "check", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert f"{bad}:3: mode" in failed.stderr and f"{bad}:4: tokens" in failed.stderr


def test_default_authority_accepts_any_wellformed_name_only() -> None:
    authority = TokenAuthority(integrations=None, default_token="default-token-123")
    assert authority.knows("crm-2") and authority.knows("a.b_c")
    assert not authority.knows("..") and not authority.knows("a/b") and not authority.knows("")


def test_serve_refuses_an_invalid_integrations_file(tmp_path: Path) -> None:
    bad = tmp_path / "integrations.yaml"
    bad.write_text("integrations:\n  - name: crm\n    mode: template\n"
                   "    tokens: [\"long-token-1\"]\n"
                   "    template: '{\"x\": \"{{nope.field}}\"}'\n")
    env = {**os.environ, "OSVI_DATA_DIR": str(tmp_path), "OSVI_INTEGRATIONS": str(bad)}
    result = subprocess.run([str(OSVI), "serve", "--port", "1"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert f"{bad}:5: template:" in result.stderr and "nope.field" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can be refused")
def test_root_is_refused_over_a_data_dir_of_another_user(tmp_path: Path) -> None:
    """docs/deploy.md: every command on the host runs as the service user; root's files in
    its data dir (a root-owned run.lock, warehouse or landing folder) would stop the units."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    env["OSVI_DATA_DIR"] = str(data)
    for command in (["materialize"], ["import", "-", "--integration", "crm"]):
        done = subprocess.run([str(OSVI), *command], env=env, capture_output=True, text=True,
                              input="", timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "belongs to nobody" in done.stderr and "sudo -u nobody osvi" in done.stderr
    assert list(data.iterdir()) == [], "nothing written"
    shown = subprocess.run([str(OSVI), "config"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, "reading the configuration writes nothing: allowed"
