"""The landing sensor's cursor: which listed files are new since the last tick.

A modification-time watermark alone misses files on object storage: S3's LastModified is when
the upload began (to the second), so an upload that began before another but finished after
it is listed later with an older time. So the cursor keeps the watermark and the names seen
within a look-back window behind it: a file is new when it is younger than the watermark minus
the window and its name was not seen. Older cursors (a bare watermark in nanoseconds) still
parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

LOOKBACK_NS = 120 * 10**9  # far longer than any one landing file's upload


@dataclass(frozen=True)
class LandingCursor:
    watermark_ns: int = 0
    recent: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        if text.isdigit():  # the cursor of earlier versions
            return cls(int(text))
        state = json.loads(text)
        return cls(int(state["watermark_ns"]), frozenset(state["recent"]))

    def dumps(self) -> str:
        return json.dumps({"watermark_ns": self.watermark_ns, "recent": sorted(self.recent)})

    @property
    def horizon_ns(self) -> int:
        """Files modified at or before this are history: listing may skip them."""
        return self.watermark_ns - LOOKBACK_NS

    def advance(self, listed: Iterable[tuple[str, int]]) -> tuple[list[str], LandingCursor]:
        """The new names among (name, modified_ns) pairs, and the cursor after them."""
        listed = list(listed)
        horizon = self.horizon_ns
        new = sorted(name for name, modified in listed
                     if modified > horizon and name not in self.recent)
        watermark = max([self.watermark_ns, *(modified for _, modified in listed)])
        keep_from = watermark - LOOKBACK_NS
        recent = frozenset(name for name, modified in listed if modified > keep_from)
        return new, LandingCursor(watermark, recent)
