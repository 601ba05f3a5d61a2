"""The statistics of a campaign's lift: pure functions of counts and arrays (numpy, scipy).

- Conversion (the share of a group who bought): the two-proportion z-test. The
  test statistic uses the pooled proportion (the null hypothesis says the two are
  equal); the confidence interval of the difference uses the unpooled standard
  error, as the textbooks do (Penn State STAT 415, lesson 9.4 and 11).
- Revenue per member: the difference of the group means, with a percentile
  bootstrap interval (Efron and Tibshirani, An Introduction to the Bootstrap,
  1993): groups resampled with replacement, all resamples of a chunk at once.
- Whether a campaign can show an effect at all: see ``judge_size``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

# A campaign with fewer members than this in either group shows no lift figures.
MIN_GROUP = 100
# Nor one whose smallest detectable conversion lift (at 5% two-sided, 80% power) is above this.
MAX_MDE = 0.10
ALPHA = 0.05
POWER = 0.80
BOOTSTRAP_SAMPLES = 2000
# Resamples are drawn as a (chunk x n) array at a time, at most this many cells.
BOOTSTRAP_CELLS = 4_000_000
# At most this many draws in all: a campaign of a million members gets fewer resamples (never under
# MIN_BOOTSTRAP_SAMPLES), where the bootstrap distribution of a mean is close to normal anyway.
BOOTSTRAP_DRAWS = 200_000_000
MIN_BOOTSTRAP_SAMPLES = 200


@dataclass(frozen=True)
class ProportionTest:
    p_treatment: float
    p_control: float
    difference: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float


def two_proportion_ztest(
    x_treatment: int, n_treatment: int, x_control: int, n_control: int, *, alpha: float = ALPHA
) -> ProportionTest:
    """Two-sided test of p_t = p_c, and the (1 - alpha) interval of p_t - p_c."""
    if n_treatment <= 0 or n_control <= 0:
        raise ValueError("both groups need members")
    p1, p2 = x_treatment / n_treatment, x_control / n_control
    difference = p1 - p2
    pooled = (x_treatment + x_control) / (n_treatment + n_control)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / n_treatment + 1 / n_control))
    if se_null > 0:
        z = difference / se_null
        p_value = float(2 * norm.sf(abs(z)))
    else:  # nobody (or everybody) bought in both groups: no evidence either way
        z, p_value = 0.0, 1.0
    se = math.sqrt(p1 * (1 - p1) / n_treatment + p2 * (1 - p2) / n_control)
    half = float(norm.ppf(1 - alpha / 2)) * se
    return ProportionTest(p1, p2, difference, difference - half, difference + half, float(z), p_value)


@dataclass(frozen=True)
class MeanDifference:
    mean_treatment: float
    mean_control: float
    difference: float
    ci_low: float
    ci_high: float
    standard_error: float


def bootstrap_samples(n_treatment: int, n_control: int) -> int:
    """How many resamples a campaign's revenue interval uses: BOOTSTRAP_SAMPLES within BOOTSTRAP_DRAWS."""
    budget = BOOTSTRAP_DRAWS // max(n_treatment + n_control, 1)
    return max(MIN_BOOTSTRAP_SAMPLES, min(BOOTSTRAP_SAMPLES, budget))


def bootstrap_mean_difference(
    treatment: np.ndarray,
    control: np.ndarray,
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    alpha: float = ALPHA,
    seed: int = 0,
) -> MeanDifference:
    """mean(treatment) - mean(control) with its percentile bootstrap interval; the same seed, the same answer."""
    treatment = np.asarray(treatment, dtype=np.float64)
    control = np.asarray(control, dtype=np.float64)
    if treatment.size == 0 or control.size == 0:
        raise ValueError("both groups need members")
    rng = np.random.default_rng(seed)
    diffs = _resampled_means(rng, treatment, samples) - _resampled_means(rng, control, samples)
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    mean_t, mean_c = float(treatment.mean()), float(control.mean())
    return MeanDifference(mean_t, mean_c, mean_t - mean_c, float(low), float(high), float(diffs.std(ddof=1)))


def _resampled_means(rng: np.random.Generator, values: np.ndarray, samples: int) -> np.ndarray:
    """The means of ``samples`` resamples of ``values``, drawn a chunk of resamples at a time."""
    n = values.size
    chunk = max(1, min(samples, BOOTSTRAP_CELLS // n))
    means = np.empty(samples)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def minimum_detectable_effect(p_control: float, n_treatment: int, n_control: int) -> float:
    """The smallest conversion lift the groups could detect at ALPHA (two-sided) with POWER.

    (z_{1-alpha/2} + z_{power}) * sqrt(p (1 - p) (1/n_t + 1/n_c)), with p the control's
    conversion (at least 1%, so a group where nobody bought is not called sensitive).
    """
    p = min(max(p_control, 0.01), 0.99)
    z = float(norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER))
    return z * math.sqrt(p * (1 - p) * (1 / max(n_treatment, 1) + 1 / max(n_control, 1)))


def judge_size(n_treatment: int, n_control: int, p_control: float) -> str | None:
    """Why the campaign is too small to show an effect, or None when its figures mean something."""
    if min(n_treatment, n_control) < MIN_GROUP:
        return (
            f"Too small to show an effect: each group needs at least {MIN_GROUP} members "
            f"(treatment {n_treatment}, control {n_control})."
        )
    mde = minimum_detectable_effect(p_control, n_treatment, n_control)
    if mde > MAX_MDE:
        return (
            f"Too small to show an effect: the smallest lift in conversion it could detect is "
            f"{mde * 100:.1f} points, above {MAX_MDE * 100:.0f}."
        )
    return None
