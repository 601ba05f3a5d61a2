"""The web layer's sign-in helpers that need no database."""

from __future__ import annotations

import pytest

from web.security import safe_next


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/portal/rewards?x=1", "/portal/rewards?x=1"),
        ("/portal/?", "/portal/"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example", None),
        ("javascript:alert(1)", None),
        ("portal", None),
        ("", None),
        (None, None),
    ],
)
def test_only_paths_on_this_site_are_kept_to_return_to(target, expected):
    assert safe_next(target) == expected
