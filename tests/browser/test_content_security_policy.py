"""The Content-Security-Policy every page carries breaks none of them: the browser reports no
violation on the interactive API docs, the portal or the console."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/api/v1/docs", "/portal/login", "/console/login"])
def test_pages_load_without_a_content_security_policy_violation(page, live_server, path):
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text))
    response = page.goto(f"{live_server.public_url}{path}")
    assert response is not None and response.status == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    if path == "/api/v1/docs":
        page.locator("#operations-tag-program").wait_for(state="visible", timeout=15_000)
    page.wait_for_load_state("networkidle")
    violations = [text for text in complaints if "Content Security Policy" in text or "Refused to" in text]
    assert not violations, violations
