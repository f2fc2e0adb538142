"""`osvi config` and the configuration page: every setting, where it came from, no secret."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from osvi_core.config_report import DOC_PATH, configuration_markdown
from osvi_core.secrets import PostgresUrlError, check_postgres_url, mask_url_password
from osvi_core.settings import setting_infos
from osvi_testkit.processes import OSVI
from tests.support.config import CHECKOUT

PASSWORD = "p@ss:w/rd%7-secret"
SECRETS = {
    "OSVI_INGEST_TOKEN": "ingest-token-from-env-0123",
    "OSVI_DAGSTER_POSTGRES_URL":
        f"postgresql://osvi:{quote(PASSWORD, safe='')}@db.internal:5432/dagster",
    "OSVI_NOTIFY_URLS": "slack://TOKENA1/TOKENB2/TOKENC3/#ops, "
                        "mailtos://mailuser:mailpass99@example.com "
                        "json://127.0.0.1:9/hook?secret=hooksecret42",
}
# Every piece a leak would show: tokens, passwords (raw and encoded), URL path tokens.
FRAGMENTS = ["ingest-token-from-env-0123", PASSWORD, quote(PASSWORD, safe=""), "w/rd", "p@ss",
             "TOKENA1", "TOKENB2", "TOKENC3", "mailpass99", "mailuser", "hooksecret42"]


def run_config(tmp_path: Path, env: dict[str, str], *, json_format: bool,
               env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OSVI_")}
    command = [str(OSVI), *(["--env-file", str(env_file)] if env_file else []), "config"]
    if json_format:
        command += ["--format", "json"]
    return subprocess.run(command, env={**clean, "OSVI_DATA_DIR": str(tmp_path / "data"), **env},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("json_format", [False, True], ids=["table", "json"])
def test_config_shows_every_setting_and_no_secret(tmp_path: Path, json_format: bool) -> None:
    env_file = tmp_path / "osvi.env"
    env_file.write_text("OSVI_TIMEZONE=Asia/Kolkata\nOSVI_REPORT_BASE_URL=https://r.example\n"
                        "OSVI_PII=keep\n", encoding="utf-8")
    done = run_config(tmp_path, {**SECRETS, "OSVI_PII": "mask"}, json_format=json_format,
                      env_file=env_file)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    leaked = [fragment for fragment in FRAGMENTS if fragment in output]
    assert not leaked, f"secrets in osvi config's output: {leaked}"
    for info in setting_infos():
        assert info.variable in output
    if json_format:
        rows = {row["variable"]: row for row in json.loads(done.stdout)}
        assert rows["OSVI_TIMEZONE"] == {"variable": "OSVI_TIMEZONE", "section": "general",
                                         "value": "Asia/Kolkata", "source": "file"}
        assert rows["OSVI_PII"]["value"] == "mask" and rows["OSVI_PII"]["source"] == "environment"
        assert rows["OSVI_MAX_BODY_BYTES"]["source"] == "default"
        assert rows["OSVI_INGEST_TOKEN"]["value"] == "***"
        assert rows["OSVI_DAGSTER_POSTGRES_URL"]["value"] == (
            "postgresql://osvi:***@db.internal:5432/dagster")
        assert rows["OSVI_NOTIFY_URLS"]["value"] == "slack://***, mailtos://***, json://***"
    else:
        assert "Asia/Kolkata" in output and "postgresql://osvi:***@db.internal" in output


def test_an_unencoded_password_is_refused_without_a_fragment(tmp_path: Path) -> None:
    # The shape of the runbook's report: libpq read "ss" as the host and the log showed it.
    unencoded = "postgresql://rbUSERq:Qss/Qwd@127.0.0.1:5432/osvi_dagster"
    done = run_config(tmp_path, {"OSVI_DAGSTER_POSTGRES_URL": unencoded}, json_format=True)
    assert done.returncode == 2
    assert "OSVI_DAGSTER_POSTGRES_URL" in done.stderr and "%40" in done.stderr
    for fragment in ("rbUSERq", "Qss", "Qwd", "127.0.0.1", "osvi_dagster"):
        assert fragment not in done.stdout + done.stderr, fragment


@pytest.mark.parametrize("url", [
    "postgresql://qqUSERqq:ZZ9@XX7@dbhostq:5432/db",  # two @ before the host
    "postgresql://qqUSERqq:ZZ9/XX7@dbhostq:5432/db",  # a / ends the host early: @ in the path
    "postgresql://qqUSERqq:ZZ9:XX7@dbhostq:5432/db",  # two : in user:password
    "postgresql://qqUSERqq:ZZ9%XX7@dbhostq:5432/db",  # a % that is no escape
    "mysql://qqUSERqq:ZZ9XX7@dbhostq/db",
    "postgresql://qqUSERqq:ZZ9XX7@dbhostq:5432",  # no database
])
def test_ambiguous_postgres_urls_are_refused_naming_no_part(url: str) -> None:
    with pytest.raises(PostgresUrlError) as error:
        check_postgres_url(url)
    for fragment in ("qqUSERqq", "ZZ9", "XX7", "dbhostq"):
        assert fragment not in str(error.value)
    assert "ZZ9" not in mask_url_password(url) and "XX7" not in mask_url_password(url)


def test_an_encoded_password_with_every_special_character_round_trips() -> None:
    url = f"postgresql://osvi:{quote(PASSWORD, safe='')}@127.0.0.1:5432/dagster"
    check_postgres_url(url)
    assert unquote(urlsplit(url).password or "") == PASSWORD
    assert mask_url_password(url) == "postgresql://osvi:***@127.0.0.1:5432/dagster"


def test_the_configuration_page_is_generated_from_the_code() -> None:
    page = (CHECKOUT / DOC_PATH).read_text(encoding="utf-8")
    assert page == configuration_markdown(), (
        "docs/configuration.md is out of date: run `make docs`")
    for info in setting_infos():
        assert f"`{info.variable}`" in page
