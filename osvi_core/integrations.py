"""The integrations file (docs/integrations.md) and the default ingest token.

Errors name the file and line so `osvi integrations check` and `osvi serve` can point at the
exact place to fix.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from osvi_core.settings import Settings

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
NAME_RE = re.compile(NAME_PATTERN)
# OSVI's `{{expression}}` placeholder, in templates and in URL templates.
PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_EXPRESSION_SOURCES = ("call_info", "call_summary", "data_capture", "structured_output",
                       "call_trigger_data")
DEFAULT_HEADER = "Authorization"


ContractMode = Literal["evolve", "freeze"]
CONTRACT_SECTIONS = ("data_capture", "structured_output")


class Contract(BaseModel):
    """What a section may do (docs/integrations.md): `evolve` (the default) takes new paths
    as they come; `freeze` records each path not seen before the contract was set in
    `contract_violations` (the delivery is still stored and loaded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_capture: ContractMode = "evolve"
    structured_output: ContractMode = "evolve"

    def frozen_sections(self) -> list[str]:
        return [section for section in CONTRACT_SECTIONS if getattr(self, section) == "freeze"]


class Integration(BaseModel):
    """One OSVI webhook integration as configured by the user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    mode: Literal["auto", "template", "call_status"] = "auto"
    tokens: tuple[str, ...] = Field(min_length=1, repr=False)
    header: str = DEFAULT_HEADER
    template: str | None = None
    url_template: str | None = None
    # Standard Webhooks signing secret ("whsec_<base64>") for senders that sign (e.g. a proxy).
    signing_secret: str | None = Field(default=None, repr=False, pattern=r"^whsec_[A-Za-z0-9+/=]+$")
    contract: Contract = Contract()

    @field_validator("tokens")
    @classmethod
    def _strong_tokens(cls, tokens: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(token) < 8 for token in tokens):
            raise ValueError("every token must be at least 8 characters")
        return tokens

    @field_validator("header")
    @classmethod
    def _header_name(cls, header: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9\-_]+", header):
            raise ValueError(f"{header!r} is not a valid HTTP header name")
        return header

    @field_validator("template")
    @classmethod
    def _template_is_json(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            parsed = orjson.loads(template)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"template is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValueError("template must be a JSON object")
        _require_closed_placeholders(template)
        for expression in PLACEHOLDER_RE.findall(template):
            source = expression.split(".", 1)[0]
            if source not in _EXPRESSION_SOURCES:
                raise ValueError(
                    f"template expression {{{{{expression}}}}} must start with one of "
                    f"{', '.join(_EXPRESSION_SOURCES)}"
                )
        return template

    @field_validator("url_template")
    @classmethod
    def _url_template_placeholders(cls, url_template: str | None) -> str | None:
        if url_template is not None:
            _require_closed_placeholders(url_template)
        return url_template


def _require_closed_placeholders(text: str) -> None:
    """A `{{` or `}}` outside a whole placeholder is a typo OSVI would send literally."""
    rest = PLACEHOLDER_RE.sub("", text)
    for stray in ("{{", "}}"):
        if stray in rest:
            around = rest[max(0, rest.index(stray) - 10):rest.index(stray) + 12]
            raise ValueError(f"placeholder not closed: {stray!r} in ...{around}... "
                             "(write each one as {{name}})")


class IntegrationsError(Exception):
    """The integrations file cannot be used; the message says where and why."""


def load_integrations(path: Path) -> dict[str, Integration]:
    """Parse and validate an integrations file, with `file:line:` in every error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IntegrationsError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise IntegrationsError(f"{path}: not valid YAML: {exc}") from None
    errors = _duplicate_keys(path, root)
    items = _integration_nodes(path, root)
    integrations: dict[str, Integration] = {}
    first_lines: dict[str, int] = {}
    for node in items:
        line = node.start_mark.line + 1
        raw = yaml.SafeLoader(text).construct_object(node, deep=True)
        if raw.get("mode") == "template" and not raw.get("template"):
            errors.append(f"{path}:{line}: mode 'template' needs a 'template'")
        try:
            integration = Integration.model_validate(raw)
        except ValidationError as exc:
            errors.extend(_describe(path, node, error) for error in exc.errors())
            continue
        if integration.name in integrations:  # the later one would shadow the earlier
            errors.append(f"{path}:{line}: integration name {integration.name!r} is used twice "
                          f"(lines {first_lines[integration.name]} and {line})")
            continue
        integrations[integration.name] = integration
        first_lines[integration.name] = line
    if errors:
        raise IntegrationsError("\n".join(errors))
    return integrations


def _duplicate_keys(path: Path, node: yaml.Node | None) -> list[str]:
    """YAML lets a later key silently replace an earlier one in the same mapping (a second
    `name:` or `tokens:`); refuse it, naming both lines."""
    errors: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if key.value in seen:
                errors.append(f"{path}:{line}: {key.value!r} is set twice in the same place "
                              f"(lines {seen[key.value]} and {line})")
            seen.setdefault(key.value, line)
            errors.extend(_duplicate_keys(path, value))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            errors.extend(_duplicate_keys(path, item))
    return errors


def _integration_nodes(path: Path, root: yaml.Node | None) -> list[yaml.MappingNode]:
    if not isinstance(root, yaml.MappingNode):
        raise IntegrationsError(f"{path}:1: expected a mapping with an 'integrations' list")
    for key, value in root.value:
        if key.value == "integrations":
            if not isinstance(value, yaml.SequenceNode):
                raise IntegrationsError(
                    f"{path}:{value.start_mark.line + 1}: 'integrations' must be a list"
                )
            nodes = []
            for item in value.value:
                if not isinstance(item, yaml.MappingNode):
                    raise IntegrationsError(
                        f"{path}:{item.start_mark.line + 1}: each integration must be a mapping"
                    )
                nodes.append(item)
            return nodes
    raise IntegrationsError(f"{path}:1: missing the top-level 'integrations' list")


def _describe(path: Path, node: yaml.MappingNode, error: Mapping[str, Any]) -> str:
    """`file:line: field: message`, the line being the offending key's when it exists."""
    location = [str(part) for part in error["loc"]]
    field = location[0] if location else ""
    line = node.start_mark.line + 1
    for key, value in node.value:
        if key.value == field:
            line = value.start_mark.line + 1
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden" and field == "contract":
        message = f"is not a section a contract covers ({', '.join(CONTRACT_SECTIONS)})"
    elif error["type"] == "extra_forbidden":
        message = ("is not a known setting (name, mode, tokens, header, template, "
                   "url_template, signing_secret, contract)")
    return f"{path}:{line}: {'.'.join(location)}: {message}"


def ensure_default_token(settings: Settings) -> tuple[str, bool]:
    """The single ingest token: OSVI_INGEST_TOKEN, else the data dir's, else a new one (0600).

    Returns the token and whether it was generated just now.
    """
    if settings.ingest_token:
        return settings.ingest_token, False
    path = settings.layout.token_file
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, False
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)
    return token, True
