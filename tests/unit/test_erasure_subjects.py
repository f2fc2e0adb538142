"""Erasure subjects, their text patterns and the ledger (osvi_core.erasure): pure logic and one
folder, and the same tombstone test in Python (osvi import) as in the load's SQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from osvi_core.erasure import (
    ErasureLedger,
    InvalidSubject,
    TombstoneIndex,
    call_id_subject,
    normalize_phone,
)
from osvi_pipeline.warehouse.erasure import load_tombstones, tombstoned


@pytest.mark.parametrize("written", ["+91 98765 43210", "+919876543210", "919876543210",
                                     "0091 98765-43210", "+91 (98765) 43210"])
def test_every_way_of_writing_a_number_is_one_subject(written: str) -> None:
    subject = normalize_phone(written)
    assert subject.canonical == "919876543210"
    assert subject.national == "9876543210"


@pytest.mark.parametrize("written", ["", "call me", "+1 23", "98765x43210", "+999 1234567"])
def test_what_is_not_a_number_is_refused_without_being_quoted(written: str) -> None:
    with pytest.raises(InvalidSubject) as refused:
        normalize_phone(written)
    assert written not in str(refused.value) or not written


def test_the_text_pattern_finds_the_number_in_any_form_and_nothing_longer() -> None:
    pattern = re.compile(normalize_phone("+91 98765 43210").text_pattern())
    for text in ['{"phone_number": "+919876543210"}', "call 09876543210 today",
                 "whatsapp 98765-43210", "+91 98765 43210", "tel:0091-98765-43210",
                 '"phone": "919876543210"']:
        assert pattern.search(text), text
    for text in ["id 19876543210", "98765432101", "+91 98765 43211", "ts 1709876543210"]:
        assert not pattern.search(text), text
    by_id = re.compile(call_id_subject("call-42").text_pattern())
    assert by_id.search('{"call_log_id": "call-42"}')
    assert not by_id.search('{"call_log_id": "call-420"}')


def test_the_ledger_keeps_no_identifier_and_survives_a_torn_line(tmp_path: Path) -> None:
    ledger = ErasureLedger(tmp_path / "erasure")
    subject = normalize_phone("+91 98765 43210")
    begun = ledger.begin(subject, "ticket 1")
    assert ledger.unfinished(begun.subject_hash) == begun
    with open(ledger.ledger_path, "ab") as handle:
        handle.write(b'{"event": "begin", "subject_ha')  # a crash mid-append
    ledger.finish(begun, calls=2, deliveries=5)
    [done] = ledger.tombstones()
    assert done.done and (done.calls, done.deliveries) == (2, 5)
    assert ledger.unfinished(begun.subject_hash) is None
    stored = ledger.ledger_path.read_bytes() + ledger.salt_path.read_bytes()
    assert b"9876543210" not in stored
    assert ledger.salt_path.stat().st_mode & 0o077 == 0
    # A second ledger on the same folder hashes the same way (the salt is kept).
    assert ErasureLedger(tmp_path / "erasure").subject_hash(subject) == begun.subject_hash


def test_python_and_sql_agree_on_what_a_tombstone_covers(tmp_path: Path) -> None:
    ledger = ErasureLedger(tmp_path)
    erased_at = datetime(2026, 12, 1, tzinfo=UTC)
    ledger.begin(normalize_phone("+91 98765 43210"), None, at=erased_at)
    ledger.begin(call_id_subject("call-9"), None, at=erased_at)
    before, after = erased_at - timedelta(days=1), erased_at + timedelta(seconds=1)
    cases = [  # (received, text, call id, covered)
        (before, '{"phone_number": "+91 98765 43210"}', "a", True),
        (before, '{"call_trigger_data": {"mobile": "09876543210"}}', "b", True),
        (before, '{"phone_number": "+91 98765 43211"}', "c", False),
        (after, '{"phone_number": "+919876543210"}', "d", False),
        (before, "{}", "call-9", True),
        (after, "{}", "call-9", False),
    ]
    index = TombstoneIndex(ledger)
    python = [index.covers(int(at.timestamp() * 1e6), text, call) for at, text, call, _ in cases]
    with duckdb.connect() as con:
        load_tombstones(con, ledger.tombstones())
        con.execute("create table rows (received_at timestamptz, path varchar, query varchar, "
                    "headers varchar, body varchar, call_log_id varchar, n int)")
        con.executemany("insert into rows values ($1, '/webhooks/crm', null, '{}', $2, $3, $4)",
                        [(at, text, call, n) for n, (at, text, call, _) in enumerate(cases)])
        sql = [bool(covered) for (covered,) in con.execute(
            f"select {tombstoned()} from rows order by n",
            {"erasure_salt": ledger.salt()}).fetchall()]
    expected = [covered for *_, covered in cases]
    assert python == expected
    assert sql == expected
