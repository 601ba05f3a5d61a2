"""The signed-in member of a portal request (web/security.py's session, for members)."""

from __future__ import annotations

from flask import g

from loyalty.accounts.services import signed_in_member
from loyalty.members.models import Member
from web import security
from web.extensions import db

KIND = "member"


def _load(member_id: str, version: int) -> Member | None:
    return signed_in_member(db.session, member_id, version)


member_required = security.login_required(KIND, _load, login_endpoint="portal.login", g_name="member")


def sign_in(member_id: str, version: int) -> None:
    security.start_login_session(KIND, member_id, version)


def current_member() -> Member:
    return g.member


def request_id() -> str | None:
    return g.get("request_id")
