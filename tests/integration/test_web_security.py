"""Rate limits are counted in the application's own Redis."""

from __future__ import annotations

from limits import parse
from limits.strategies import FixedWindowRateLimiter

from web.security import AppRedisStorage


def test_limits_are_counted_in_the_apps_redis_and_refuse_past_the_limit(app, redis_conn):
    strategy = FixedWindowRateLimiter(AppRedisStorage("loyalty+redis://"))
    two_a_minute = parse("2 per minute")

    assert strategy.hit(two_a_minute, "sign-in", "198.51.100.7")
    assert strategy.hit(two_a_minute, "sign-in", "198.51.100.7")
    assert not strategy.hit(two_a_minute, "sign-in", "198.51.100.7")
    assert strategy.hit(two_a_minute, "sign-in", "198.51.100.8")

    assert any(b"198.51.100.7" in key for key in redis_conn.keys("*"))
