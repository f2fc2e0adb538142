"""When a campaign's day differs from its trailing week enough to tell someone (pure).

A change is flagged only when it is both statistically significant at 95 % and large enough to
matter, and only with enough data that a handful of calls cannot raise an alarm (2 of 3 against
1 of 3 is noise):

- proportions (reach rate, a condition's share, a boolean field's true rate): the day's k of n
  against the trailing days' pooled k of n, a two-proportion z-test; the day's Wilson interval
  is reported with it;
- counts (calls): the day's count against the trailing days' daily mean, a Poisson z-score
  (the conditional binomial test's normal approximation would need the same minimum counts).
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


@dataclass(frozen=True)
class Verdict:
    value: float
    baseline: float
    interval_low: float
    interval_high: float
    significant: bool  # statistically, at 95 %, with enough data
    flagged: bool  # significant and large enough to matter


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0..1); (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


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
    significant = enough and abs(two_proportion_z(k, n, baseline_k, baseline_n)) >= Z_95
    flagged = significant and abs(value - baseline) >= rules.min_rate_change
    return Verdict(value, baseline, low, high, significant, flagged)


def judge_count(count: int, baseline_total: int, baseline_days: int,
                rules: FlagRules = FlagRules()) -> Verdict | None:
    """A day's count against the mean of `baseline_days` days; None without a baseline."""
    if baseline_days == 0:
        return None
    mean = baseline_total / baseline_days
    spread = Z_95 * math.sqrt(mean)
    enough = baseline_total >= rules.min_baseline_count and max(count, mean) >= rules.min_day_count
    significant = enough and mean > 0 and abs(count - mean) / math.sqrt(mean) >= Z_95
    flagged = significant and abs(count - mean) >= rules.min_count_change * mean
    return Verdict(float(count), mean, max(0.0, mean - spread), mean + spread, significant,
                   flagged)
