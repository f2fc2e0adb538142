"""Publishing the analysts' snapshot: the copy is byte-exact, whichever way the kernel does it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from osvi_pipeline.warehouse.publish import copy_file, publish_snapshot


def _working_file(tmp_path: Path, size: int = 5 * 1024 * 1024 + 17) -> Path:
    working = tmp_path / "working.duckdb"
    working.write_bytes(os.urandom(size))
    return working


def test_the_snapshot_is_a_byte_exact_copy_published_atomically(tmp_path: Path) -> None:
    working = _working_file(tmp_path)
    published = tmp_path / "out" / "warehouse.duckdb"
    published.parent.mkdir()
    published.write_bytes(b"the previous snapshot")
    assert publish_snapshot(working, published) == working.stat().st_size
    assert published.read_bytes() == working.read_bytes()
    assert list(published.parent.iterdir()) == [published]  # no temp file left behind


def test_copy_falls_back_when_the_kernel_refuses_copy_file_range(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    working = _working_file(tmp_path)
    target = tmp_path / "copy.duckdb"
    copy_file(working, target)
    assert target.read_bytes() == working.read_bytes()
