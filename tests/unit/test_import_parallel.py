"""`osvi import` inspects batches of bodies in parallel processes: what it stores and reports
must be exactly what one process makes of the same input, unparseable bodies at batch
boundaries (they take the previous batch's last receipt time) included."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import osvi_cli.history_import as history_import
from osvi_cli.history_import import Source, find_sources, import_history
from osvi_core.landing_store import LocalLandingStore

BATCH = 7  # bodies per batch: the input below makes several, cut inside files


def _body(number: int) -> str:
    received = None if number % 11 == 0 else f"2023-06-0{1 + number % 3}T0{number % 10}:00:00Z"
    return json.dumps({"call_log_id": f"c{number}", "call_status": "picked",
                       "call_info": {"received_at": received}})


def _inputs(folder: Path) -> list[Source]:
    lines = [_body(number) for number in range(40)]
    for position in (7, 8, 14, 30):  # unparseable: a batch's first bodies among them
        lines[position] = '{"call_log_id": "broken' + str(position)
    lines[20] = lines[19]  # a retry: two deliveries
    lines.insert(25, "")  # a blank line: not a body, but counted in line numbers
    broken = lines.index('{"call_log_id": "broken30')
    lines[broken:broken] = [""] * 9  # a batch of blank lines only, then an unparseable body
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    with gzip.open(folder / "b.jsonl.gz", "wt") as handle:
        handle.write("\n".join(_body(number) for number in range(40, 49)) + "\n")
    (folder / "c.json").write_text(json.dumps([json.loads(_body(number))
                                               for number in range(49, 52)]))
    (folder / "d.json").write_text("[not json")
    for name in ("a.jsonl", "b.jsonl.gz", "c.json", "d.json"):
        os.utime(folder / name, (1_690_000_000, 1_690_000_000))
    return find_sources([str(folder)])


@pytest.mark.parametrize("received_at_field", ["call_info.received_at", None])
def test_parallel_inspection_stores_and_reports_what_one_process_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, received_at_field: str | None) -> None:
    monkeypatch.setattr(history_import, "STAGED_BATCH", BATCH)
    monkeypatch.setattr(history_import, "READ_HINT", 1)  # a line at a time: cuts inside files
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    sources = _inputs(inputs)
    outcomes = {}
    for workers in (1, 2):
        landing = tmp_path / f"landing-{workers}"
        report = import_history(sources, "crm", LocalLandingStore(landing, tmp_path / "q"),
                                timezone="Asia/Kolkata", received_at_field=received_at_field,
                                workers=workers, scratch_dir=tmp_path / "scratch")
        rows = sorted((row for path in landing.rglob("*.parquet")
                       for row in pq.read_table(path).to_pylist()),
                      key=lambda row: row["delivery_id"])
        outcomes[workers] = (report, rows, sorted(path.relative_to(landing).as_posix()
                                                  for path in landing.rglob("*.parquet")))
    (serial, serial_rows, serial_files), (parallel, parallel_rows, parallel_files) = \
        outcomes[1], outcomes[2]
    assert serial.bodies == 40 + 9 + 3 + 1 and serial.unparseable == 5
    assert serial.errors[0].startswith(f"{inputs / 'a.jsonl'}:8: body is not valid JSON")
    assert serial.errors[-1].startswith(f"{inputs / 'd.json'}:1: body is not valid JSON")
    assert parallel == serial
    assert parallel_rows == serial_rows and len(serial_rows) == serial.stored == 53
    assert parallel_files == serial_files
    if received_at_field:  # unparseable bodies take the time of the body before them
        by_body = {row["body"]: row["received_at"] for row in serial_rows}
        assert by_body['{"call_log_id": "broken7'] == by_body['{"call_log_id": "broken8'] \
            == by_body[_body(6)]
        assert by_body['{"call_log_id": "broken30'] == by_body[_body(29)]
