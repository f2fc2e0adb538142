"""Erasure subjects and their tombstones (`osvi forget`, docs/erasure.md).

A subject is a phone number or a call id. A phone number is compared as digits after
normalization: `+91 98765 43210`, `+919876543210`, `919876543210` and `0091 98765 43210` are
one number, and so is its national form (`09876543210`, `9876543210`) in a record.

The identifier itself is never stored. What is kept, in `<OSVI_DATA_DIR>/erasure/`:
- `salt`: a random secret (0600) that makes the hashes useless to anyone without it;
- `ledger.jsonl`: an append-only, fsynced record per erasure: `begin` (the subject's hash, the
  hashes a record's values are compared with, the erasure time, the reason) before any store
  is touched, and `done` (what was removed) after. A `begin` without its `done` is an erasure
  interrupted (kill -9): the next `osvi forget` of that subject finishes it with the same time.

Every `begin` is a tombstone: a delivery received before its time that holds one of its match
hashes is never loaded again (a replica's journal published late, a re-imported file, a
rebuild from landing). A delivery received after it is new data, and is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import phonenumbers

from osvi_core.fs import fsync_dir

SubjectKind = Literal["phone", "call_id"]
# What a number looks like inside any text (bodies, queries, headers): a digit, then digits
# and the separators people write, then a digit. Each match is normalized and hashed at load
# (number_digits), whatever key or sentence holds it. Also the SQL of the tombstone filter.
NUMBER_IN_TEXT = r"\+?[0-9][0-9 ().-]{5,22}[0-9]"
_ALLOWED_IN_PHONE = re.compile(r"^[0-9+ ().-]+$")
_SEPARATOR = r"[ ().-]{0,2}"


class InvalidSubject(ValueError):
    """An identifier `osvi forget` cannot use; the message never quotes it."""


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    canonical: str  # phone: E.164 digits without `+`; call_id: as given
    national: str | None = None  # phone: the national significant number

    @property
    def label(self) -> str:
        """How output names the subject without revealing it."""
        return "phone number" if self.kind == "phone" else "call id"

    def digit_forms(self) -> list[str]:
        """The digit strings (leading zeros dropped) that stand for this phone number."""
        if self.kind != "phone":
            return []
        return sorted({self.canonical, *([self.national] if self.national else [])})

    def text_pattern(self) -> str:
        """A regex (RE2 and Python alike) finding the subject in any text: the number in each
        of its forms, digits grouped by the separators people write, not inside a longer run
        of digits; a call id as a whole word."""
        if self.kind == "call_id":
            return rf"(^|[^0-9A-Za-z_-]){re.escape(self.canonical)}($|[^0-9A-Za-z_-])"
        forms = [_SEPARATOR.join(form) for form in self.digit_forms()]
        return rf"(^|[^0-9])(\+|00)?0?({'|'.join(forms)})($|[^0-9])"


def normalize_phone(text: str) -> Subject:
    """The phone number a person typed, as a subject; InvalidSubject when it is not one."""
    stripped = text.strip()
    if not stripped or not _ALLOWED_IN_PHONE.match(stripped):
        raise InvalidSubject("a --phone value holds characters a phone number does not "
                             "(digits, +, spaces, dashes, dots and parentheses only)")
    digits = number_digits(stripped)
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise InvalidSubject("a --phone value is not a possible phone number: write it with its "
                             "country code, e.g. +91 98765 43210")
    national = str(parsed.national_number)
    return Subject("phone", digits, national if len(national) >= 6 else None)


def number_digits(text: str) -> str:
    """A number's digits without the `00`/`0` prefixes: what two forms of one number share."""
    return "".join(char for char in text if char.isdigit()).lstrip("0")


def call_id_subject(text: str) -> Subject:
    value = text.strip()
    if not value or len(value) > 200 or any(char.isspace() for char in value):
        raise InvalidSubject("a --call-id value must be one call_log_id (no spaces)")
    return Subject("call_id", value)


def match_value(kind: SubjectKind, value: str) -> str:
    """The text hashed for a value found in a record: the same function in Python and in the
    load's SQL (`'phone:' || digits`, `'call_id:' || id`)."""
    return f"{kind}:{value}"


def salted_hash(salt: str, text: str) -> str:
    return hashlib.sha256((salt + text).encode()).hexdigest()


@dataclass(frozen=True)
class Tombstone:
    subject_hash: str
    match_hashes: tuple[str, ...]
    erased_at: datetime
    reason: str | None
    done: bool
    calls: int = 0
    deliveries: int = 0


class ErasureLedger:
    """The salt and the ledger of erasures in one folder (see the module's docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ledger_path = directory / "ledger.jsonl"
        self.salt_path = directory / "salt"

    def salt(self, create: bool = True) -> str | None:
        with contextlib.suppress(FileNotFoundError):
            return self.salt_path.read_text(encoding="utf-8").strip()
        if not create:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f".salt.{os.getpid()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, self.salt_path)  # the first writer wins
        temp.unlink()
        fsync_dir(self.directory)
        return self.salt_path.read_text(encoding="utf-8").strip()

    def subject_hash(self, subject: Subject) -> str:
        return salted_hash(self._salt(), match_value(subject.kind, subject.canonical))

    def match_hashes(self, subject: Subject) -> tuple[str, ...]:
        if subject.kind == "call_id":
            return (salted_hash(self._salt(), match_value("call_id", subject.canonical)),)
        return tuple(salted_hash(self._salt(), match_value("phone", form))
                     for form in subject.digit_forms())

    def _salt(self) -> str:
        salt = self.salt()
        assert salt is not None
        return salt

    def tombstones(self) -> list[Tombstone]:
        """Every erasure begun, oldest first; `done` with its counts once finished."""
        begun: dict[tuple[str, str], Tombstone] = {}
        for entry in self._entries():
            key = (entry["subject_hash"], entry["erased_at"])
            if entry["event"] == "begin":
                begun[key] = Tombstone(entry["subject_hash"], tuple(entry["match_hashes"]),
                                       datetime.fromisoformat(entry["erased_at"]),
                                       entry.get("reason"), done=False)
            elif entry["event"] == "done" and key in begun:
                started = begun[key]
                begun[key] = Tombstone(started.subject_hash, started.match_hashes,
                                       started.erased_at, started.reason, done=True,
                                       calls=int(entry["calls"]),
                                       deliveries=int(entry["deliveries"]))
        return list(begun.values())

    def unfinished(self, subject_hash: str) -> Tombstone | None:
        for tombstone in reversed(self.tombstones()):
            if tombstone.subject_hash == subject_hash:
                return None if tombstone.done else tombstone
        return None

    def begin(self, subject: Subject, reason: str | None, at: datetime | None = None
              ) -> Tombstone:
        erased_at = at or datetime.now(UTC)
        self._append({"event": "begin", "subject_hash": self.subject_hash(subject),
                      "match_hashes": list(self.match_hashes(subject)),
                      "erased_at": erased_at.isoformat(), "reason": reason})
        return Tombstone(self.subject_hash(subject), self.match_hashes(subject), erased_at,
                         reason, done=False)

    def finish(self, tombstone: Tombstone, calls: int, deliveries: int) -> None:
        self._append({"event": "done", "subject_hash": tombstone.subject_hash,
                      "erased_at": tombstone.erased_at.isoformat(), "calls": calls,
                      "deliveries": deliveries})

    def _entries(self) -> Iterable[dict[str, Any]]:
        try:
            data = self.ledger_path.read_bytes()
        except FileNotFoundError:
            return []
        entries = []
        for line in data.splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):  # a torn last line: never done
                entries.append(orjson.loads(line))
        return entries

    def _append(self, entry: dict[str, object]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.ledger_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            # A line torn by a crash is ended first, so this entry stays readable.
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            os.write(fd, (b"\n" if torn else b"") + orjson.dumps(entry) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.directory)


class TombstoneIndex:
    """The tombstones as a lookup, for writers that check rows in Python (`osvi import`): the
    same test as the pipeline's load (osvi_pipeline.warehouse.erasure.tombstoned)."""

    def __init__(self, ledger: ErasureLedger) -> None:
        self._salt = ledger.salt(create=False) or ""
        self._erased_at: dict[str, float] = {}
        for tombstone in ledger.tombstones():
            moment = tombstone.erased_at.timestamp()
            for match_hash in tombstone.match_hashes:
                self._erased_at[match_hash] = max(moment, self._erased_at.get(match_hash, 0.0))
        self._numbers = re.compile(NUMBER_IN_TEXT)

    def __bool__(self) -> bool:
        return bool(self._erased_at)

    def covers(self, received_at_us: int, text: str, call_log_id: str | None) -> bool:
        """Whether a delivery received then, with this text and call id, was erased."""
        if not self._erased_at:
            return False
        values = [match_value("phone", number_digits(found))
                  for found in self._numbers.findall(text)]
        if call_log_id is not None:
            values.append(match_value("call_id", call_log_id))
        received = received_at_us / 1e6
        return any(self._erased_at.get(salted_hash(self._salt, value), 0.0) > received
                   for value in values)
