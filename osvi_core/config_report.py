"""The configuration as people read it: `osvi config` (the effective values and where each
came from) and docs/configuration.md (every setting's default and meaning), both generated from
`Settings`, so neither can drift from the code. Secrets never appear: tokens and passwords as
`***`, the password of a URL masked in place, Apprise URLs as their scheme only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from osvi_core.secrets import MASK, mask_apprise_urls, mask_url_password
from osvi_core.settings import (
    ENV_FILE_VARIABLE,
    Section,
    SettingInfo,
    Settings,
    setting_infos,
    setting_sources,
)

DOC_PATH = Path("docs") / "configuration.md"


@dataclass(frozen=True)
class EffectiveSetting:
    variable: str
    section: str
    value: str | None  # as shown: secrets masked; None when unset
    source: str  # default | environment | file | argument

    def as_dict(self) -> dict[str, str | None]:
        return {"variable": self.variable, "section": self.section, "value": self.value,
                "source": self.source}


def shown(info: SettingInfo, value: object) -> str | None:
    """A value as it may be printed."""
    if value is None:
        return None
    text = str(value)
    if not info.secret:
        return text
    if info.name == "notify_urls":
        return mask_apprise_urls(text)
    if "://" in text:
        return mask_url_password(text)
    return MASK


def effective_configuration(settings: Settings, environ: Mapping[str, str] | None = None
                            ) -> list[EffectiveSetting]:
    sources = setting_sources(settings, environ)
    return [EffectiveSetting(info.variable, info.section.value,
                             shown(info, getattr(settings, info.name)), sources[info.name])
            for info in setting_infos()]


def _default_text(info: SettingInfo) -> str:
    if info.default is None:
        return "unset"
    text = str(info.default)
    if isinstance(info.default, Path) and not info.default.is_absolute():
        text = f"./{text}"
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...` (see the code)"


SECTION_INTRO = {
    Section.general: "Where the project writes and what a day is.",
    Section.ingest: "The webhook endpoint (`osvi serve`, the ingest role of `osvi up`).",
    Section.landing: "Where acknowledged deliveries land as Parquet, and the journal before it.",
    Section.pipeline: "The Dagster code location and the DuckDB warehouse it writes.",
    Section.production: "Dagster's processes (`osvi up`, `osvi up --production`).",
    Section.explorer: "The campaign explorer (`osvi explore`).",
    Section.export: "Sending the warehouse to other warehouses (dlt).",
    Section.notify: "Daily summaries sent to chat and e-mail (Apprise).",
    Section.flags: "When a campaign's day is flagged against its trailing 7 days.",
    Section.privacy: "Personal data in the analysts' warehouse.",
}


def configuration_markdown() -> str:
    """docs/configuration.md, generated (`python -m osvi_core.config_report > docs/...`)."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from osvi_core/settings.py by `make docs`; a test fails when this "
        "page and the code disagree. -->",
        "",
        "Every setting is an environment variable. They can also be kept in a dotenv file "
        f"named by `{ENV_FILE_VARIABLE}` (for example `/etc/osvi/osvi.env`, the file the "
        "systemd units read); a variable set in the environment wins over the file. "
        "`osvi config` prints the effective values and where each came from (`default`, "
        "`environment`, `file`), with secrets shown as `***`.",
        "",
        "Secrets (marked 🔒 below) are never logged or written to the data dir. In a "
        "PostgreSQL URL, percent-encode `@ : / % ? #` in the user and password "
        "(`p@ss:w/rd` is `p%40ss%3Aw%2Frd`).",
        "",
    ]
    infos = setting_infos()
    for section in Section:
        members = [info for info in infos if info.section is section]
        if not members:
            continue
        lines += [f"## {section.value.capitalize()}", "", SECTION_INTRO[section], "",
                  "| variable | default | meaning |", "|---|---|---|"]
        for info in members:
            lock = " 🔒" if info.secret else ""
            meaning = info.meaning.replace("|", "\\|")
            lines.append(f"| `{info.variable}`{lock} | {_default_text(info)} | {meaning} |")
        lines.append("")
    lines += [
        "## Read from elsewhere",
        "",
        "| variable | meaning |",
        "|---|---|",
        "| `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` | "
        "the S3-compatible endpoint and credentials for `s3://` landing and publishing |",
        "| `DAGSTER_HOME` | set by `osvi` to `$OSVI_DATA_DIR/dagster` for the processes it "
        "starts |",
        "| `OSVI_DAGSTER_POSTGRES_DRIVER_URL` | derived by `osvi` from "
        "`OSVI_DAGSTER_POSTGRES_URL` for Dagster's processes; never set it yourself |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(configuration_markdown(), end="")
