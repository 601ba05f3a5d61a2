"""The lift statistics against textbook worked examples with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from loyalty.campaigns import stats


def test_two_proportion_interval_and_test_match_the_penn_state_cigarette_tax_poll():
    # Penn State STAT 415 (Introduction to Mathematical Statistics), lesson 9.4 "Comparing Two
    # Proportions", and the two-proportion Z-test of lesson 11: Time magazine's telephone poll of 800
    # adults, "Should the federal tax on cigarettes be raised to pay for health care reform?": 351 of 605
    # non-smokers and 41 of 195 smokers said yes. The 95% interval of p1 - p2 is (0.301, 0.439) and the
    # test of p1 = p2 gives Z = 8.99, a p-value of essentially 0.
    result = stats.two_proportion_ztest(351, 605, 41, 195)
    assert result.difference == pytest.approx(0.3699, abs=5e-4)
    assert result.ci_low == pytest.approx(0.301, abs=1e-3)
    assert result.ci_high == pytest.approx(0.439, abs=1e-3)
    assert result.z == pytest.approx(8.99, abs=0.01)
    assert result.p_value < 1e-15


def test_two_proportion_test_matches_a_worked_example_with_no_significant_difference():
    # A textbook exercise (homework solution: "find the test statistic z", x1 = 140 of n1 = 200 and
    # x2 = 255 of n2 = 340): pooled p = 0.7314815, standard error 0.03949401, z = -1.266015. (Its
    # one-sided p-value, 0.1030, reads a t table with 538 degrees of freedom; the normal's is 0.1028,
    # so 0.2055 two-sided.)
    result = stats.two_proportion_ztest(140, 200, 255, 340)
    assert result.z == pytest.approx(-1.266015, abs=1e-5)
    assert result.p_value == pytest.approx(0.2055, abs=1e-4)
    assert result.ci_low < 0 < result.ci_high


def test_no_buyer_in_either_group_is_no_evidence_either_way():
    result = stats.two_proportion_ztest(0, 500, 0, 500)
    assert (result.difference, result.z, result.p_value) == (0.0, 0.0, 1.0)


MOUSE_TREATMENT = [94, 197, 16, 38, 99, 141, 23]
MOUSE_CONTROL = [52, 104, 146, 10, 51, 30, 40, 27, 46]


def test_bootstrap_standard_error_matches_efron_and_tibshiranis_mouse_data():
    # Efron and Tibshirani, An Introduction to the Bootstrap (1993), chapter 2, table 2.1: survival
    # times of 7 treated and 9 control mice. The difference of means is 30.63; as the number of
    # bootstrap samples grows the bootstrap standard error of it tends to the plug-in value
    # sqrt(s1^2/n1 + s2^2/n2) with divisor n, 26.85 (the book's B = 1000 gives about 26.9 too).
    result = stats.bootstrap_mean_difference(np.array(MOUSE_TREATMENT), np.array(MOUSE_CONTROL), samples=20_000, seed=7)
    assert result.difference == pytest.approx(30.63, abs=0.01)
    assert result.standard_error == pytest.approx(26.85, abs=0.6)
    assert result.ci_low < result.difference < result.ci_high


def test_bootstrap_is_reproducible_with_its_seed_and_resamples_in_chunks():
    rng = np.random.default_rng(1)
    treatment, control = rng.exponential(50, 3000), rng.exponential(45, 3000)
    first = stats.bootstrap_mean_difference(treatment, control, seed=11)
    again = stats.bootstrap_mean_difference(treatment, control, seed=11)
    assert first == again
    # With many members the percentile interval is close to the normal-theory one.
    se = np.sqrt(treatment.var() / treatment.size + control.var() / control.size)
    assert first.ci_high - first.ci_low == pytest.approx(2 * 1.96 * se, rel=0.1)


@pytest.mark.parametrize(
    ("n_treatment", "n_control", "p_control", "too_small"),
    [
        (99, 5000, 0.2, True),  # a group under the minimum
        (5000, 99, 0.2, True),
        (150, 150, 0.3, True),  # big enough groups, but only a lift of about 15 points could show
        (2000, 2000, 0.3, False),
        (100_000, 10_000, 0.05, False),
    ],
)
def test_a_campaign_too_small_to_show_an_effect_says_so(n_treatment, n_control, p_control, too_small):
    verdict = stats.judge_size(n_treatment, n_control, p_control)
    assert (verdict is not None) == too_small
    if too_small:
        assert verdict.startswith("Too small to show an effect")


def test_minimum_detectable_effect_follows_the_standard_sample_size_formula():
    # (1.96 + 0.8416) * sqrt(0.25 * (1/1000 + 1/1000)) = 0.0626
    assert stats.minimum_detectable_effect(0.5, 1000, 1000) == pytest.approx(0.0626, abs=1e-4)


@pytest.mark.parametrize(
    ("n_treatment", "n_control", "samples"),
    [(500, 500, 2000), (90_000, 10_000, 2000), (900_000, 100_000, 200), (400_000, 100_000, 400)],
)
def test_large_campaigns_resample_fewer_times_within_the_draw_budget(n_treatment, n_control, samples):
    assert stats.bootstrap_samples(n_treatment, n_control) == samples
