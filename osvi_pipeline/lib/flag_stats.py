"""When a campaign's day differs from its trailing week enough to tell someone (pure).

A change is flagged only when it is both statistically significant at 95 % and large enough to
matter, and only with enough data that a handful of calls cannot raise an alarm (2 of 3 against
1 of 3 is noise):

- proportions (reach rate, a condition's share, a boolean field's true rate): the day's k of n
  against the trailing days' pooled k of n, a two-proportion z-test; the day's Wilson interval
  is reported with it;
- counts (calls): the day's count against the trailing days' daily mean, a Poisson z-score
  (the conditional binomial test's normal approximation would need the same minimum counts).

A day runs dozens of such tests per campaign; at 5 % each, a steady campaign raises flags that
mean nothing. `significant` is each test alone; a campaign-day row is `flagged` only when its
test survives Benjamini-Hochberg's control of the false-discovery rate across the day's tests
(`benjamini_hochberg`, OSVI_FLAG_FDR) and the change is large enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 %


@dataclass(frozen=True)
class FlagRules:
    min_day_count: int = 20  # the day's denominator (calls, attempts, answers)
    min_baseline_count: int = 50  # the trailing days' pooled denominator
    min_rate_change: float = 0.10  # absolute change of a proportion (10 percentage points)
    min_count_change: float = 0.30  # relative change of a daily count (30 %)
    fdr: float = 0.05  # false-discovery rate controlled across a day's tests


@dataclass(frozen=True)
class Verdict:
    value: float
    baseline: float
    interval_low: float
    interval_high: float
    significant: bool  # statistically, at 95 %, with enough data (this test alone)
    flagged: bool  # significant and large enough to matter (this test alone)
    p_value: float | None = None  # two-sided; None when there is not enough data to test
    large: bool = False  # the change is at least the minimum that matters


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0..1); (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def p_value(z: float) -> float:
    """Two-sided p-value of a standard normal z."""
    return math.erfc(abs(z) / math.sqrt(2))


def benjamini_hochberg(p_values: list[float], fdr: float) -> list[bool]:
    """Which hypotheses to reject so that the expected share of false discoveries among the
    rejections is at most `fdr` (Benjamini and Hochberg, 1995): the k smallest p-values, k the
    largest rank with p_(k) <= k / m * fdr."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    cutoff = 0
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= rank / len(p_values) * fdr:
            cutoff = rank
    rejected = set(order[:cutoff])
    return [index in rejected for index in range(len(p_values))]


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """z of the difference k1/n1 - k2/n2 under a pooled proportion (0 when undefined)."""
    if n1 == 0 or n2 == 0:
        return 0.0
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    return 0.0 if variance == 0 else (k1 / n1 - k2 / n2) / math.sqrt(variance)


def judge_proportion(k: int, n: int, baseline_k: int, baseline_n: int,
                     rules: FlagRules = FlagRules()) -> Verdict | None:
    """The day's k of n against the baseline's; None when the day has no denominator."""
    if n == 0 or baseline_n == 0:
        return None
    value, baseline = k / n, baseline_k / baseline_n
    low, high = wilson_interval(k, n)
    enough = n >= rules.min_day_count and baseline_n >= rules.min_baseline_count
    z = two_proportion_z(k, n, baseline_k, baseline_n)
    significant = enough and abs(z) >= Z_95
    large = abs(value - baseline) >= rules.min_rate_change
    return Verdict(value, baseline, low, high, significant, significant and large,
                   p_value(z) if enough else None, large)


def judge_count(count: int, baseline_total: int, baseline_days: int,
                rules: FlagRules = FlagRules()) -> Verdict | None:
    """A day's count against the mean of `baseline_days` days; None without a baseline."""
    if baseline_days == 0:
        return None
    mean = baseline_total / baseline_days
    spread = Z_95 * math.sqrt(mean)
    enough = baseline_total >= rules.min_baseline_count and max(count, mean) >= rules.min_day_count
    z = (count - mean) / math.sqrt(mean) if mean > 0 else 0.0
    significant = enough and mean > 0 and abs(z) >= Z_95
    large = abs(count - mean) >= rules.min_count_change * mean
    return Verdict(float(count), mean, max(0.0, mean - spread), mean + spread, significant,
                   significant and large, p_value(z) if enough and mean > 0 else None, large)
