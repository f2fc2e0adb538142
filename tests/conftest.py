"""The suite's one fixture shared across folders; helpers live in tests/support/."""

from __future__ import annotations

from pathlib import Path

import pytest

from osvi_core.settings import Settings
from tests.support.config import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)
