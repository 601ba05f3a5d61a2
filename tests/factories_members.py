"""Member factories: enrol through the service, as the product does."""

from __future__ import annotations

from loyalty.actors import cli_actor
from tests.factories import unique


def make_member(session, *, email: str | None = None, phone: str | None = None, name: str | None = "Test Member", **kw):
    """An enrolled member; an email is made up when neither email nor phone is given."""
    from loyalty.members.services import enrol_member

    if email is None and phone is None:
        email = f"{unique('member')}@example.com"
    member = enrol_member(session, email=email, phone=phone, name=name, actor=cli_actor(), **kw)
    session.commit()
    return member
