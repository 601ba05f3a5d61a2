"""Tiers: the ladder members climb by the points they earn over a rolling window, and its review."""
