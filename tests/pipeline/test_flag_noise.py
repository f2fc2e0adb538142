"""A steady history raises (almost) no flags once the day's tests are controlled together, and a
real shift and a fill-rate drop still do: the real `build_campaign_flags` on marts made up in
DuckDB."""

from __future__ import annotations

import pytest

from benchmarks.flag_noise import judge


@pytest.mark.parametrize("seed", [0, 1])
def test_false_alarms_are_controlled_and_a_real_shift_still_flagged(seed: int) -> None:
    result = judge(days=60, seed=seed)
    assert result.shift_flagged, "every call of a campaign suddenly not_interested"
    assert result.fill_drop_flagged, "email filled on 10 % of calls instead of 70 %"
    assert 30 * result.controlled_flags / result.campaign_days <= 1.0
    assert result.raw_flags > 3 * result.controlled_flags, "the control did the work"
