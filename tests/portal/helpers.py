"""Driving the portal with Flask's test client as a browser would: over HTTPS, with the form's CSRF token."""

from __future__ import annotations

import re

BASE = "https://portal.test"
PASSWORD = "tide-lantern-43"
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Visitor:
    """One browser: a cookie jar, the last page seen, and forms sent with that page's CSRF token."""

    def __init__(self, client):
        self.client = client
        self.page = ""

    def get(self, path: str, **kwargs):
        response = self.client.get(path, base_url=BASE, **kwargs)
        if response.mimetype == "text/html" and not response.location:
            self.page = response.get_data(as_text=True)
        return response

    def post(self, path: str, data: dict | None = None, *, form_from: str | None = None, csrf: bool = True, **kwargs):
        """POST ``data`` with the CSRF token of the page at ``form_from`` (fetched first), or of the last page."""
        if form_from is not None:
            self.get(form_from)
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", csrf_token(self.page))
        headers = {"Referer": f"{BASE}{form_from or path}"}
        response = self.client.post(path, base_url=BASE, data=body, headers=headers, **kwargs)
        if response.mimetype == "text/html" and not response.location:
            self.page = response.get_data(as_text=True)
        return response


def sign_up(visitor: Visitor, email: str, *, name: str = "Ana Costa", password: str = PASSWORD, language: str = "en"):
    response = visitor.post(
        "/portal/signup",
        {"name": name, "email": email, "password": password, "language": language},
        form_from="/portal/signup",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def log_in(visitor: Visitor, email: str, password: str = PASSWORD):
    return visitor.post("/portal/login", {"email": email, "password": password}, form_from="/portal/login")
