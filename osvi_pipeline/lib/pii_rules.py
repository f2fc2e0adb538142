"""Masking personal data (OSVI_PII=mask): phone numbers and person names.

Pure functions; `masking.py` applies them to the published warehouse.
- A phone number keeps its country code and last two digits: `+919876543210` -> `+91********10`
  (a number without `+` keeps only its last two digits: the country code is unknown). Country
  codes come from libphonenumber's table; they form a prefix code, so at most one matches.
- A person name keeps its first character: `John Doe` -> `J***`.
- Which fields hold them is decided by the key (a JSON key, a wide column's last `__` part, a
  long table's leaf path), matched against globs after both are put in snake_case, so
  `customer_name` also matches `customerName` and `Customer Name`, and `phone` matches `phones`.
- Free text (`call_summary`, URL paths, JSON strings with a space): numbers written `+CC...`
  or as runs of 10+ digits are masked, and so are the words of the call's known person name.
  Other names inside free text cannot be recognized reliably and are left as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import orjson
import phonenumbers

from osvi_core.settings import DEFAULT_NAME_KEYS, DEFAULT_PHONE_KEYS

PHONE_STARS = "********"
NAME_STARS = "***"
COUNTRY_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# `+` then 8-15 digits, possibly grouped by spaces or dashes; or 10-15 digits in a row.
_PHONE_IN_TEXT = re.compile(r"\+\d(?:[ \-]?\d){7,14}(?![\d])|(?<![\w.+])\d{10,15}(?![\w.])")
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"\w{2,}")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-]+")


def glob_regex(globs: str) -> str:
    """One regex (Python and RE2 alike) matching a normalized key against comma-separated globs."""
    patterns = []
    for glob in (part.strip() for part in globs.split(",")):
        if glob:
            pieces = normalize_key(glob).split("*")
            # A plain key's plural (`phones`, `phone_numbers`) holds the same kind of values.
            plural = "s?" if len(pieces) == 1 else ""
            patterns.append(".*".join(re.escape(piece) for piece in pieces) + plural)
    # With no globs: a space, which a normalized key never holds (RE2 has no `(?!)`).
    return "|".join(patterns) if patterns else " "


def normalize_key(key: str) -> str:
    """snake_case: `customerName`, `Customer Name` and `customer-name` are `customer_name`."""
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", key.strip())).lower()


def country_code(digits: str) -> str | None:
    for length in (1, 2, 3):
        if digits[:length] in COUNTRY_CODES:
            return digits[:length]
    return None


def mask_phone(value: str) -> str:
    digits = "".join(char for char in value if char.isdigit())
    code = country_code(digits) if value.lstrip().startswith("+") else None
    return f"{'+' + code if code else ''}{PHONE_STARS}{digits[-2:]}"


def mask_name(value: str) -> str:
    stripped = value.strip()
    return stripped[:1] + NAME_STARS if stripped else value


def mask_text(text: str, known_names: Iterable[str | None] = ()) -> str:
    """Phone numbers in free text, and the words of names we know belong to this call."""
    masked = _PHONE_IN_TEXT.sub(_masked_match, text) if _DIGIT.search(text) else text
    words = [word for name in known_names if name for word in _WORD.findall(name)
             if word in masked]  # most summaries name nobody: skip the regex
    if words:
        masked = _name_words(frozenset(words)).sub(_masked_match_name, masked)
    return masked


def _masked_match(match: re.Match[str]) -> str:
    return mask_phone(match.group())


def _masked_match_name(match: re.Match[str]) -> str:
    return mask_name(match.group())


@lru_cache(maxsize=4096)
def _name_words(words: frozenset[str]) -> re.Pattern[str]:
    ordered = sorted(words, key=len, reverse=True)  # "Anand" before "An"
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")


@dataclass(frozen=True)
class PiiRules:
    """Which keys hold phone numbers and which hold person names (comma-separated globs)."""

    phone_keys: str = DEFAULT_PHONE_KEYS
    name_keys: str = DEFAULT_NAME_KEYS
    _kinds: dict[str, str | None] = field(default_factory=dict, compare=False, hash=False,
                                          repr=False)

    @cached_property
    def phone_regex(self) -> str:
        return glob_regex(self.phone_keys)

    @cached_property
    def name_regex(self) -> str:
        return glob_regex(self.name_keys)

    def kind_of(self, key: str) -> str | None:
        """'phone', 'name' or None for an object key or column name."""
        if key in self._kinds:  # the same few keys come back on every row
            return self._kinds[key]
        normalized = normalize_key(key)
        kind = None
        if re.fullmatch(self.phone_regex, normalized):
            kind = "phone"
        elif re.fullmatch(self.name_regex, normalized):
            kind = "name"
        if len(self._kinds) < 100_000:
            self._kinds[key] = kind
        return kind

    def mask_scalar(self, kind: str | None, value: Any) -> Any:
        if value is None or kind is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float | str):
            return mask_phone(str(value)) if kind == "phone" else mask_name(str(value))
        return self.mask_json(value, kind)

    def mask_json(self, value: Any, inherited: str | None = None,
                  names: frozenset[str] | None = None) -> Any:
        """A copy of a JSON value with every PII key's value masked, at any depth.

        `inherited` masks the scalars under a PII key (a list of phone numbers, say); free text
        also loses the names found under the document's name keys."""
        if names is None:
            names = frozenset(self.names_in(value))
        if isinstance(value, dict):
            return {key: self.mask_json(item, self.kind_of(key) or inherited, names)
                    for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_json(item, inherited, names) for item in value]
        if isinstance(value, str) and inherited is None:
            # Free text (it has a space) may quote a number; a bare ID-like string is not touched.
            return mask_text(value, names) if " " in value else value
        return self.mask_scalar(inherited, value)

    def names_in(self, value: Any) -> Iterable[str]:
        """The strings under name keys, at any depth."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and self.kind_of(key) == "name":
                    yield item
                else:
                    yield from self.names_in(item)
        elif isinstance(value, list):
            for item in value:
                yield from self.names_in(item)

    def mask_json_text(self, text: str, inherited: str | None = None) -> str:
        """Masked JSON text; text that is not JSON gets the free-text masking."""
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return mask_text(text)
        return orjson.dumps(self.mask_json(parsed, inherited)).decode()
