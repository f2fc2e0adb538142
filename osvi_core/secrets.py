"""Secrets in configuration values: checked without echoing them, shown as `***`.

A PostgreSQL URL whose password holds `@`, `/` or `:` unencoded cannot be split into user,
password and host unambiguously; libpq then reads a piece of the password as the host and
error messages quote it. Such a URL is refused by naming what is wrong with it, never any
part of it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
ENCODING_HINT = ("percent-encode these characters in the user and password: @ as %40, : as "
                 "%3A, / as %2F, % as %25, ? as %3F, # as %23 (python3 -c \"import "
                 "urllib.parse, getpass; print(urllib.parse.quote(getpass.getpass(), "
                 "safe=''))\" prints the encoded form)")


class PostgresUrlError(ValueError):
    """What is wrong with a PostgreSQL URL; the message holds no part of the URL."""


def check_postgres_url(url: str) -> None:
    """Raise PostgresUrlError unless `url` is postgresql://[user[:password]@]host[:port]/db
    with its user and password percent-encoded."""
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in POSTGRES_SCHEMES:
        raise PostgresUrlError("must look like postgresql://user:password@host:5432/database")
    authority, _, path = rest.partition("/")
    tail = path.split("?", 1)[0]
    if authority.count("@") > 1 or "@" in tail:
        raise PostgresUrlError(f"more than one '@' before the host or an '@' after it: "
                               f"{ENCODING_HINT}")
    userinfo, _, hostport = authority.rpartition("@")
    if userinfo.count(":") > 1:
        raise PostgresUrlError(f"more than one ':' in the user and password: {ENCODING_HINT}")
    if _PERCENT_ESCAPE.search(userinfo):
        raise PostgresUrlError(f"a '%' that is not a %XX escape in the user or password: "
                               f"{ENCODING_HINT}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise PostgresUrlError(f"the host part does not parse (an unencoded ':' or '/' in the "
                               f"password?): {ENCODING_HINT}") from None
    if not hostport or not parts.hostname:
        raise PostgresUrlError("needs a host: postgresql://user:password@host:5432/database")
    if not tail:
        raise PostgresUrlError("needs a database name after the host: .../database")


def mask_url_password(url: str) -> str:
    """`scheme://user:***@host/...`; a URL that does not split cleanly is `scheme://***`."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return MASK
    authority, slash, path = rest.partition("/")
    if authority.count("@") != 1 or "@" in path or authority.split("@")[0].count(":") > 1:
        return f"{scheme}://{MASK}" if authority.count("@") or "@" in path else url
    userinfo, _, hostport = authority.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{hostport}{slash}{path}"


def mask_apprise_urls(urls: str) -> str:
    """Apprise URLs carry their credentials anywhere (user, password, path tokens): each is
    shown as its scheme only."""
    shown = [f"{url.split('://', 1)[0]}://{MASK}" if "://" in url else MASK
             for url in re.split(r"[\s,]+", urls.strip()) if url]
    return ", ".join(shown)
