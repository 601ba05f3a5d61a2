"""BG/NBD and Gamma-Gamma: the published CDNOW fits, recovery of known parameters, and degenerate data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from loyalty.analytics.value_models import (
    BgNbdParams,
    FitError,
    GammaGammaParams,
    expected_purchases,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
    simulate_bgnbd,
)

DATA = Path(__file__).parents[2] / "data"


def columns(name: str) -> dict[str, np.ndarray]:
    with (DATA / name).open() as stream:
        rows = list(csv.DictReader(stream))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def test_bgnbd_reproduces_the_published_cdnow_fit():
    cdnow = columns("cdnow_customers_summary.csv")
    fitted = fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.005), name


def test_gamma_gamma_reproduces_the_published_cdnow_fit():
    cdnow = columns("cdnow_customers_summary_with_transactions.csv")
    repeat = cdnow["x"] > 0
    fitted = fit_gamma_gamma(cdnow["x"][repeat], cdnow["zbar"][repeat])
    published = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.005), name


TRUE_BGNBD = BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
TRUE_SPEND = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
# Relative tolerances for 10,000 simulated members: about twice the largest error seen over 12 seeds
# (r 3 %, alpha 6 %, a 10 %, b 17 %, p 12 %, q 5 %, gamma 15 %); b and the p/gamma pair are the least determined.
TOLERANCE = {"r": 0.1, "alpha": 0.12, "a": 0.2, "b": 0.35, "p": 0.25, "q": 0.1, "gamma": 0.3}


@pytest.mark.parametrize("seed", [1, 7])
def test_fits_recover_the_parameters_that_generated_the_histories(seed):
    rng = np.random.default_rng(seed)
    histories = simulate_bgnbd(TRUE_BGNBD, rng.uniform(26, 78, 10_000), rng, TRUE_SPEND)
    bg = fit_bgnbd(histories["x"], histories["t_x"], histories["T"])
    repeat = histories["x"] > 0
    gg = fit_gamma_gamma(histories["x"][repeat], histories["m_x"][repeat])
    for fitted, true in ((bg, TRUE_BGNBD), (gg, TRUE_SPEND)):
        for name, value in true.as_dict().items():
            assert getattr(fitted, name) == pytest.approx(value, rel=TOLERANCE[name]), name
    # The mean spend the model implies, gamma p / (q - 1), is pinned down much better than p and gamma apart.
    assert gg.gamma * gg.p / (gg.q - 1) == pytest.approx(30.0, rel=0.05)


def test_the_simulation_follows_the_model():
    rng = np.random.default_rng(3)
    histories = simulate_bgnbd(TRUE_BGNBD, np.full(20_000, 52.0), rng)
    # E[X(t)] of the BG/NBD (Fader, Hardie & Lee 2005, eq. 9) at t = 52 weeks.
    from scipy.special import hyp2f1

    r, alpha, a, b = 0.25, 4.0, 0.8, 2.5
    t = 52.0
    expected = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    assert histories["x"].mean() == pytest.approx(expected, rel=0.04)
    assert np.all(histories["t_x"] <= histories["T"])
    assert np.all((histories["x"] == 0) == (histories["t_x"] == 0))


def test_predictions_behave_as_the_model_says():
    params = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x = np.array([0.0, 2.0, 2.0, 10.0])
    t_x = np.array([0.0, 30.43, 5.0, 38.0])
    T = np.full(4, 38.86)  # noqa: N806
    alive = p_alive(params, x, t_x, T)
    assert alive[0] == 1.0  # no repeat purchase: the model cannot have seen them drop out
    assert alive[2] < alive[1] < 1.0  # the same purchases, the last one long ago: less likely alive
    future = expected_purchases(params, 39.0, x, t_x, T)
    assert np.all(future >= 0)
    assert future[3] > future[1] > future[2]
    assert expected_purchases(params, 78.0, x, t_x, T)[1] > future[1]
    spend = expected_spend(GammaGammaParams(6.25, 3.74, 15.44), np.array([0.0, 1.0, 50.0]), np.array([0, 100.0, 100.0]))
    population_mean = 15.44 * 6.25 / (3.74 - 1)
    assert spend[0] == pytest.approx(population_mean)
    assert population_mean < spend[1] < spend[2] < 100.0  # shrunk towards the mean, less so with more purchases


@pytest.mark.parametrize(
    ("x", "t_x", "T", "why"),
    [
        ([], [], [], "fewer than two"),
        ([3.0], [10.0], [20.0], "fewer than two"),
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, 9.0, 30.0], "one-time buyer"),
    ],
)
def test_bgnbd_refuses_data_that_cannot_support_a_fit(x, t_x, T, why):  # noqa: N803
    with pytest.raises(FitError) as raised:
        fit_bgnbd(np.array(x), np.array(t_x), np.array(T))
    assert why in raised.value.reason


def test_gamma_gamma_refuses_too_few_or_identical_spends():
    with pytest.raises(FitError):
        fit_gamma_gamma(np.array([1.0, 2.0]), np.array([10.0, 20.0]))
    with pytest.raises(FitError, match="spends the same"):
        fit_gamma_gamma(np.array([1.0, 2.0, 3.0]), np.array([10.0, 10.0, 10.0]))
