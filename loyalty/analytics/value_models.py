"""Predicted value: the BG/NBD and Gamma-Gamma models, fitted by maximum likelihood.

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
  while alive, a member buys at a Poisson rate lambda ~ Gamma(r, alpha); after
  each purchase they drop out with probability p ~ Beta(a, b). A member's
  history is ``(x, t_x, T)``: repeat purchases, the time of the last one and
  the time since the first, all from their first purchase.
- Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"):
  the value of each repeat purchase is Gamma(p, nu) with nu ~ Gamma(q, gamma);
  a member's history is ``(x, m_x)``, the mean value of their repeat purchases.

The log-likelihoods are vectorised over members (optionally weighted, for
grouped data) and maximised over the logarithms of the parameters with
L-BFGS-B (from a second and third starting point when the first does not
converge). Time is in weeks, the unit of the
published CDNOW fits; money in minor units. Nothing here touches a database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

DAYS_PER_WEEK = 7.0


class FitError(Exception):
    """The data cannot support a fit (too few members, no repeat buyer); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


def _weights(n: int, weights: np.ndarray | None) -> np.ndarray:
    return np.ones(n) if weights is None else np.asarray(weights, dtype=float)


def bgnbd_log_likelihood(
    params: BgNbdParams,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803 (the papers' names)
) -> np.ndarray:
    """Each member's log-likelihood under BG/NBD (Fader, Hardie & Lee 2005, eq. 6, in logs)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    alive = -(r + x) * np.log(alpha + T)
    # The second term exists only for members with a repeat purchase (x > 0).
    dropped = np.where(
        x > 0,
        np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return head + np.logaddexp(alive, dropped)


def gamma_gamma_log_likelihood(params: GammaGammaParams, x: np.ndarray, m_x: np.ndarray) -> np.ndarray:
    """Each repeat buyer's log-likelihood of their mean spend under Gamma-Gamma (Fader & Hardie 2013, eq. 1a)."""
    p, q, g = params.p, params.q, params.gamma
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * np.log(g + m_x * x)
    )


def _maximise(objective, starts: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """L-BFGS-B from the first of ``starts`` (log-parameters), then from the next ones only while none converged."""
    best: tuple[np.ndarray, float] | None = None
    for start in starts:
        with np.errstate(all="ignore"):
            result = minimize(objective, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start))
        if np.isfinite(result.fun) and result.fun < 1e300 and (best is None or result.fun < best[1]):
            best = (result.x, float(result.fun))
            if result.success:
                break
    if best is None:
        raise FitError("the likelihood could not be maximised")
    return best


def fit_bgnbd(
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803
    weights: np.ndarray | None = None,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for members' ``(x, t_x, T)`` (weeks)."""
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)  # noqa: N806
    w = _weights(len(x), weights)
    usable = T > 0
    x, t_x, T, w = x[usable], t_x[usable], T[usable], w[usable]  # noqa: N806
    if usable.sum() < 2:
        raise FitError("fewer than two members with a history to fit")
    if not np.any(x > 0):
        raise FitError("no member has bought twice: every buyer is a one-time buyer")
    total = w.sum()
    # The terms that depend on x alone are computed once per distinct x, not once per member.
    xs, at = np.unique(x, return_inverse=True)
    repeat = x > 0
    log_b_part = np.where(repeat, 0.0, -np.inf)
    x_minus_1 = np.maximum(xs - 1, 0)

    def objective(log_params: np.ndarray) -> float:
        r, alpha, a, b = np.exp(log_params)
        head = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xs) - betaln(a, b)
        drop_head = np.log(a) - np.log(b + x_minus_1)
        alive = -(r + x) * np.log(alpha + T)
        dropped = drop_head[at] - (r + x) * np.log(alpha + t_x) + log_b_part
        ll = head[at] + np.logaddexp(alive, dropped)
        value = -(w * ll).sum() / total
        return value if np.isfinite(value) else 1e300

    mean_t = max(float(np.average(T, weights=w)), 1e-3)
    starts = [np.log([1.0, mean_t, 1.0, 1.0]), np.log([0.5, mean_t / 4, 0.5, 2.0]), np.zeros(4)]
    best, _ = _maximise(objective, starts)
    return BgNbdParams(*(float(v) for v in np.exp(best)))


def fit_gamma_gamma(x: np.ndarray, m_x: np.ndarray, weights: np.ndarray | None = None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters for repeat buyers' ``(x, m_x)`` (x > 0, m_x > 0)."""
    x = np.asarray(x, dtype=float)
    m_x = np.asarray(m_x, dtype=float)
    w = _weights(len(x), weights)
    usable = (x > 0) & (m_x > 0)
    x, m_x, w = x[usable], m_x[usable], w[usable]
    if usable.sum() < 3:
        raise FitError("fewer than three repeat buyers with a positive spend")
    if np.ptp(m_x) == 0:
        raise FitError("every repeat buyer spends the same: the spend's spread cannot be fitted")
    total = w.sum()
    xs, at = np.unique(x, return_inverse=True)
    log_m, log_x = np.log(m_x), np.log(x)

    def objective(log_params: np.ndarray) -> float:
        p, q, g = np.exp(log_params)
        per_x = gammaln(p * xs + q) - gammaln(p * xs) - gammaln(q) + q * np.log(g)
        px = p * x
        ll = per_x[at] + (px - 1) * log_m + px * log_x - (px + q) * np.log(g + m_x * x)
        value = -(w * ll).sum() / total
        return value if np.isfinite(value) else 1e300

    mean_m = float(np.average(m_x, weights=w))
    starts = [np.log([1.0, 2.0, mean_m]), np.log([5.0, 3.0, mean_m]), np.zeros(3)]
    best, _ = _maximise(objective, starts)
    return GammaGammaParams(*(float(v) for v in np.exp(best)))


def _drop_term(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:  # noqa: N803
    """``a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)`` for x > 0, else 0 (computed in logs)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_term = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        return np.where(x > 0, np.exp(np.minimum(log_term, 700.0)), 0.0)


def p_alive(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:  # noqa: N803
    """The probability each member is still alive (eq. 11 of Fader, Hardie & Lee 2005)."""
    x = np.asarray(x, dtype=float)
    return 1.0 / (1.0 + _drop_term(params, x, np.asarray(t_x, float), np.asarray(T, float)))


def expected_purchases(
    params: BgNbdParams,
    t: float,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """Expected purchases in the next ``t`` weeks given each history (eq. 10 of Fader, Hardie & Lee 2005)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    T = np.asarray(T, dtype=float)  # noqa: N806
    z = t / (alpha + T + t)
    with np.errstate(all="ignore"):
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        first = (a + b + x - 1) / (a - 1)
        second = 1.0 - np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t))) * hyp
        value = first * second / (1.0 + _drop_term(params, x, np.asarray(t_x, float), T))
    # hyp2f1 can fail for extreme histories: fall back to the rate of a live member at the mean, times p_alive.
    bad = ~np.isfinite(value) | (value < 0)
    if np.any(bad):
        rate = (r + x[bad]) / (alpha + T[bad])
        value[bad] = rate * t * p_alive(params, x[bad], np.asarray(t_x, float)[bad], T[bad])
    return value


def expected_spend(params: GammaGammaParams, x: np.ndarray, m_x: np.ndarray) -> np.ndarray:
    """Each member's expected value of a purchase (Fader & Hardie 2013, eq. 5); the population mean for x = 0."""
    p, q, g = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m_x = np.nan_to_num(np.asarray(m_x, dtype=float))
    if q <= 1:
        # The population mean gamma p / (q - 1) is infinite: fall back on each member's own mean.
        return np.where(x > 0, m_x, np.nan)
    return (g + m_x * x) * p / (p * x + q - 1)


def simulate_bgnbd(
    params: BgNbdParams,
    T: np.ndarray,  # noqa: N803
    rng: np.random.Generator,
    spend: GammaGammaParams | None = None,
) -> dict[str, np.ndarray]:
    """Histories of members drawn from the BG/NBD process (and Gamma-Gamma spends), observed for ``T`` weeks each.

    Returns ``x``, ``t_x``, ``T`` and, with ``spend``, ``m_x`` (mean value of the
    repeat purchases; 0 where x = 0). Each member buys at time 0, then at
    exponential gaps of rate lambda, dropping out after each repeat purchase
    with probability p; purchases after ``T`` are not seen.
    """
    T = np.asarray(T, dtype=float)  # noqa: N806
    n = len(T)
    lam = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    drop = rng.beta(params.a, params.b, size=n)
    x = np.zeros(n, dtype=np.int64)
    t_x = np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while np.any(active):
        idx = np.flatnonzero(active)
        # After each repeat purchase (not the first: the likelihood has e^(-lambda T) for x = 0) they may drop out.
        gone = (rng.random(idx.size) < drop[idx]) & (x[idx] > 0)
        active[idx[gone]] = False
        idx = idx[~gone]
        gap = rng.exponential(1.0 / np.maximum(lam[idx], 1e-12))
        later = now[idx] + gap
        seen = later <= T[idx]
        active[idx[~seen]] = False
        bought = idx[seen]
        now[bought] = later[seen]
        t_x[bought] = later[seen]
        x[bought] += 1
    out = {"x": x, "t_x": t_x, "T": T}
    if spend is not None:
        nu = rng.gamma(spend.q, 1.0 / spend.gamma, size=n)
        total = rng.gamma(np.maximum(spend.p * x, 1e-12), 1.0 / nu)
        out["m_x"] = np.where(x > 0, total / np.maximum(x, 1), 0.0)
    return out
