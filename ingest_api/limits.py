"""Per-integration rate limiting (pure logic)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    """A token bucket per integration: `rate` deliveries a second, bursts of `2 x rate`."""

    rate: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, integration: str) -> bool:
        if self.rate <= 0:
            return True
        capacity = 2 * self.rate
        now = self.clock()
        tokens, last = self._buckets.get(integration, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self._buckets[integration] = (tokens - 1 if allowed else tokens, now)
        return allowed

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(1 / self.rate)) if self.rate > 0 else 1
