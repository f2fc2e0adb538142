"""Who may read the explorer, and what the browser may do with its pages.

Without OSVI_EXPLORER_PASSWORD the explorer listens on loopback only (`osvi explore` refuses
any other interface). With it, every page but /healthz asks for HTTP Basic credentials; the
password is compared in constant time and each failed attempt waits FAILED_LOGIN_SECONDS
while holding a lock, so guesses go one at a time, at most one a second.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress

# The pages need their own script and stylesheet only; charts are inline SVG.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
FAILED_LOGIN_SECONDS = 1.0
REALM = 'Basic realm="osvi campaign explorer", charset="UTF-8"'
OPEN_PATHS = frozenset({"/healthz"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def password_matches(authorization: str | None, password: str) -> bool:
    """HTTP Basic with any user name and this password (constant time in its content)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, _, given = decoded.partition(":")
    return hmac.compare_digest(given.encode(), password.encode())


class LoginThrottle:
    """Failed logins wait their turn and then a second each."""

    def __init__(self, seconds: float = FAILED_LOGIN_SECONDS) -> None:
        self._seconds = seconds
        self._lock = asyncio.Lock()

    async def failed(self) -> None:
        async with self._lock:
            await asyncio.sleep(self._seconds)
