"""OSVI_NOTIFY_URLS: Apprise URLs parsed, validated and named without their secrets.

A target's URL carries tokens and passwords: only its `name` (Apprise's privacy form, without
the query) and its `key` (a hash, stable across runs) are ever logged or stored.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import apprise
from apprise.utils.parse import parse_urls

EMAIL_SCHEMES = ("mailto", "mailtos")


class NotifyConfigError(ValueError):
    """OSVI_NOTIFY_URLS holds something Apprise cannot use; the message names it safely."""


@dataclass(frozen=True)
class Target:
    url: str = ""  # secret
    name: str = ""  # for people: no password, token or query
    key: str = ""  # sha256 prefix of the URL: the same target across runs

    @property
    def is_email(self) -> bool:
        return self.url.split("://", 1)[0].lower() in EMAIL_SCHEMES

    def __repr__(self) -> str:
        return f"Target({self.name})"


def parse_targets(urls: str | None) -> list[Target]:
    """The targets of a comma- or space-separated list; raises NotifyConfigError."""
    targets = []
    quiet = logging.getLogger("apprise")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its parse warnings may quote the URL
    try:
        for position, url in enumerate(parse_urls(urls or ""),  # type: ignore[no-untyped-call]
                                       start=1):
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
                raise NotifyConfigError(
                    f"OSVI_NOTIFY_URLS: entry {position} ({scheme}://...) is not a URL Apprise "
                    "can send to: check its scheme and parts (https://github.com/caronc/apprise"
                    "/wiki)")
            name = str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
            key = hashlib.sha256(url.encode()).hexdigest()[:16]
            targets.append(Target(url, name, key))
    finally:
        quiet.setLevel(level)
    return targets
