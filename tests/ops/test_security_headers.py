"""Every answer of the service, page or API, whatever its status, carries the security headers;
pages get a CSP that keeps them to this site, and the API docs' one inline script is allowed by hash."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.factories import bearer, make_key

DUMMY = {"int": "1", "float": "1.0", "path": "x/y", "uuid": "00000000-0000-0000-0000-000000000000"}


def get_urls(app) -> list[str]:
    """Every GET route of the app, its parameters filled with values that name nothing."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue

        def fill(match: re.Match) -> str:
            converter = match.group(1) or "default"
            return DUMMY.get(converter.split("(")[0], "nothing_here")

        urls.append(re.sub(r"<(?:([^:<>]+):)?[^<>]+>", fill, rule.rule))
    return sorted(set(urls))


def assert_secured(url: str, response) -> None:
    headers = response.headers
    where = f"{url} ({response.status_code} {response.mimetype})"
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer", "strict-origin-when-cross-origin"), where
    assert headers.get("X-Frame-Options") == "DENY", where
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, where
    if response.mimetype == "text/html":
        assert "default-src 'self'" in policy and "object-src 'none'" in policy, where
        assert "'unsafe-eval'" not in policy, where
        if "/api/v1/docs" not in url:
            assert "'unsafe-inline'" not in policy, where
    else:
        assert "default-src 'none'" in policy, where
    assert "Strict-Transport-Security" not in headers, where  # plain HTTP


@pytest.mark.parametrize("with_key", [False, True], ids=["anonymous", "admin key"])
def test_every_get_route_answers_with_the_security_headers(app, client, db_session, with_key):
    headers = bearer(make_key(db_session, "admin")) if with_key else {}
    urls = get_urls(app)
    assert len(urls) > 50  # the walk reaches the API, the portal, the console, the docs
    for url in urls:
        assert_secured(url, client.get(url, headers=headers))


def test_error_pages_and_unknown_addresses_carry_them_too(client, db_session):
    for url in ("/no/such/page", "/portal/no/such/page", "/console/no/such/page", "/api/v1/no/such"):
        assert_secured(url, client.get(url))
    assert_secured("POST /api/v1/members", client.post("/api/v1/members", json={}))


def test_the_api_docs_page_allows_its_own_start_up_script_by_hash_and_nothing_from_elsewhere(client, db_session):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    scripts = re.findall(rb"<script>(.*?)</script>", response.data, re.S)
    assert scripts
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert re.search(r"script-src 'self' 'sha256-", policy)
    assert "http" not in policy  # no other host


def test_hsts_is_sent_over_https_only_and_can_be_turned_off(app, client, db_session, monkeypatch):
    secure = client.get("/healthz", base_url="https://loyalty.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/healthz").headers

    monkeypatch.setitem(app.config, "HSTS_MAX_AGE", 0)
    assert "Strict-Transport-Security" not in client.get("/healthz", base_url="https://loyalty.example").headers


def test_behind_a_trusted_proxy_its_https_counts(db_session, redis_conn, monkeypatch):
    from wsgi import create_app

    monkeypatch.setenv("PROXY_HOPS", "1")
    proxied = create_app({"TESTING": True}).test_client()
    forwarded = proxied.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"})
    assert forwarded.headers["Strict-Transport-Security"].startswith("max-age=")
