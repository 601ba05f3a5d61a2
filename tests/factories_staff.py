"""Staff accounts of the console, and signing them in with the test client."""

from __future__ import annotations

import re

from loyalty.actors import cli_actor
from tests.factories import unique

PASSWORD = "correct horse battery"


def make_staff(session, role: str = "admin", *, merchant_id: str | None = None, password: str = PASSWORD):
    from loyalty.staff.services import create_staff_user

    user = create_staff_user(
        session,
        email=f"{unique(role)}@staff.example.com",
        name=unique(f"{role.title()} "),
        role=role,
        merchant_id=merchant_id,
        password=password,
        actor=cli_actor(),
    )
    session.commit()
    return user


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    """Sign in through the login form; returns the response to the POST."""
    token = csrf_token(client.get("/console/login").get_data(as_text=True))
    return client.post("/console/login", data={"email": email, "password": password, "csrf_token": token})


def post_form(client, url: str, data: dict | None = None, *, page: str | None = None):
    """POST a console form with the CSRF token of the signed-in session (read from ``page``, or the home page)."""
    html = client.get(page or "/console/account").get_data(as_text=True)
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(html)})
