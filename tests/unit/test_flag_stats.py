"""The flag statistics against intervals and z-scores computed by hand."""

from __future__ import annotations

import pytest

from osvi_pipeline.lib.flag_stats import (
    FlagRules,
    judge_count,
    judge_proportion,
    two_proportion_z,
    wilson_interval,
)


def test_wilson_interval_matches_the_hand_computed_one() -> None:
    # 8 of 10, z = 1.96: centre (0.8 + 1.92/10) / 1.384 = 0.7167, half-width 0.2266
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_two_proportion_z_matches_the_hand_computed_one() -> None:
    # pooled 0.55: sqrt(0.55 * 0.45 * (1/100 + 1/100)) = 0.070356; (0.30 - 0.80) / it
    assert two_proportion_z(30, 100, 80, 100) == pytest.approx(-7.1067, abs=1e-3)
    # 2 of 3 against 1 of 3: pooled 0.5, sqrt(0.25 * 2/3) = 0.4082, z = 0.8165
    assert two_proportion_z(2, 3, 1, 3) == pytest.approx(0.8165, abs=1e-4)


def test_noise_is_never_flagged() -> None:
    noise = judge_proportion(2, 3, 1, 3)
    assert noise is not None and not noise.significant and not noise.flagged
    # even lopsided small numbers stay quiet below the minimum counts
    tiny = judge_proportion(5, 5, 0, 5)
    assert tiny is not None and not tiny.flagged


def test_a_real_drop_is_flagged_and_a_small_one_is_not() -> None:
    drop = judge_proportion(30, 100, 560, 700)  # 30 % today against 80 % all week
    assert drop is not None and drop.significant and drop.flagged
    assert drop.value == 0.3 and drop.baseline == 0.8
    assert drop.interval_high < drop.baseline, "the day's interval excludes the baseline"
    # significant with a big sample, yet too small a change to matter (3 points)
    slight = judge_proportion(7700, 10000, 56000, 70000, FlagRules(min_rate_change=0.10))
    assert slight is not None and slight.significant and not slight.flagged


def test_counts_against_the_trailing_mean() -> None:
    fell = judge_count(20, 700, 7)  # 20 calls against 100 a day: z = -8
    assert fell is not None and fell.flagged and fell.baseline == 100
    assert fell.interval_low == pytest.approx(100 - 1.96 * 10, abs=0.01)
    usual = judge_count(95, 700, 7)
    assert usual is not None and not usual.flagged
    assert judge_count(3, 0, 0) is None


def test_benjamini_hochberg_against_the_hand_computed_cutoff() -> None:
    # m = 5, fdr 0.05: thresholds 0.01, 0.02, 0.03, 0.04, 0.05. Sorted p: 0.001, 0.012, 0.035,
    # 0.041, 0.2; the largest rank under its threshold is 2 (0.012 <= 0.02; 0.035 > 0.03).
    from osvi_pipeline.lib.flag_stats import benjamini_hochberg, p_value

    assert benjamini_hochberg([0.035, 0.001, 0.2, 0.012, 0.041], 0.05) == [
        False, True, False, True, False]
    # a later p-value under its threshold carries the earlier ones with it (step-up)
    assert benjamini_hochberg([0.012, 0.04, 0.02], 0.05) == [True, True, True]
    assert benjamini_hochberg([], 0.05) == []
    assert p_value(1.959963984540054) == pytest.approx(0.05)
