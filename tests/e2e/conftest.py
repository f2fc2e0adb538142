"""Fixtures the end-to-end tests share."""

from collections.abc import Iterator

import pytest

from tests.support.receivers import Inbox, serve_inbox


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A local json:// receiver: (what it got, its port)."""
    yield from serve_inbox()
