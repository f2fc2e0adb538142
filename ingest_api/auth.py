"""Token authentication of deliveries: which integration a request may deliver to.

The integrations file and the default token are the shared core's (osvi_core.integrations);
deciding on a request is the HTTP service's alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from osvi_core.integrations import (
    DEFAULT_HEADER,
    NAME_RE,
    Integration,
    ensure_default_token,
    load_integrations,
)
from osvi_core.settings import Settings


class AuthOutcome(Enum):
    OK = "ok"
    UNKNOWN_INTEGRATION = "unknown_integration"
    UNAUTHORIZED = "unauthorized"


@dataclass(frozen=True)
class TokenAuthority:
    """Decides whether a request may deliver to an integration.

    With an integrations file, each integration has its own tokens and header. Without one, a
    single token is accepted for any well-formed integration name.
    """

    integrations: Mapping[str, Integration] | None
    default_token: str | None

    def header_name(self, integration: str) -> str:
        if self.integrations is not None and integration in self.integrations:
            return self.integrations[integration].header
        return DEFAULT_HEADER

    def knows(self, integration: str) -> bool:
        if not NAME_RE.match(integration):
            return False
        return self.integrations is None or integration in self.integrations

    def authenticate(self, integration: str, headers: Mapping[str, str]) -> AuthOutcome:
        if not self.knows(integration):
            return AuthOutcome.UNKNOWN_INTEGRATION
        header = self.header_name(integration)
        presented = headers.get(header.lower())
        if presented is None:
            return AuthOutcome.UNAUTHORIZED
        candidate = _strip_scheme(presented) if header.lower() == "authorization" else presented
        return (AuthOutcome.OK if _matches_any(candidate.strip(), self._tokens(integration))
                else AuthOutcome.UNAUTHORIZED)

    def signing_secret(self, integration: str) -> str | None:
        if self.integrations is None or integration not in self.integrations:
            return None
        return self.integrations[integration].signing_secret

    def all_tokens(self) -> list[str]:
        """Every secret, so redaction can remove one wherever a client put it."""
        if self.integrations is None:
            return [self.default_token] if self.default_token else []
        return [token for item in self.integrations.values() for token in item.tokens]

    def _tokens(self, integration: str) -> tuple[str, ...]:
        if self.integrations is None:
            return (self.default_token,) if self.default_token else ()
        return self.integrations[integration].tokens


def _strip_scheme(value: str) -> str:
    scheme, _, rest = value.strip().partition(" ")
    return rest if scheme.lower() == "bearer" and rest else value


def _matches_any(candidate: str, tokens: tuple[str, ...]) -> bool:
    """Constant time in the token's content; every token is compared (no early exit)."""
    presented = candidate.encode()
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented, token.encode())
    return matched


def build_authority(settings: Settings) -> TokenAuthority:
    """The authority for this configuration; raises IntegrationsError on a bad file."""
    path = settings.layout.integrations_path
    if path is not None:
        return TokenAuthority(integrations=load_integrations(path), default_token=None)
    token, _ = ensure_default_token(settings)
    return TokenAuthority(integrations=None, default_token=token)
