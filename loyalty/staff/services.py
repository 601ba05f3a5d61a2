"""Staff accounts of the console: created by an admin, signed in with a password, reset by a one-time link.

Passwords, one-time links and attempt accounting come from ``loyalty.logins``;
this module only knows whose account it is and what the role may reach.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from loyalty.actors import Actor, Role
from loyalty.audit.services import record_event
from loyalty.contacts import normalise_email
from loyalty.errors import Conflict, Forbidden, InvalidCredentials, NotFound, TokenInvalid, ValidationFailed
from loyalty.logins import services as logins
from loyalty.merchants.checks import clean_text, get_merchant
from loyalty.notifications.services import queue_notification
from loyalty.pagination import Page, paginate
from loyalty.staff.models import StaffUser
from loyalty.text import usable_id

STAFF_ROLES = ("admin", "marketer", "merchant")
RESET_PURPOSE = "staff_reset"
RESET_LIFETIME = timedelta(hours=1)


def actor_for_staff(user: StaffUser, *, request_id: str | None = None) -> Actor:
    """The actor services see for a signed-in staff member: their role, and their merchant for merchant staff."""
    return Actor(
        kind="staff",
        name=user.email,
        role=Role(user.role),
        merchant_id=user.merchant_id,
        request_id=request_id,
    )


def _audit(session: Session, user: StaffUser, action: str, actor: Actor, data: dict[str, Any] | None = None) -> None:
    record_event(
        session,
        actor=actor,
        action=action,
        object_type="staff_user",
        object_id=user.id,
        merchant_id=user.merchant_id,
        data=data,
    )


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("Only the program operator's admins manage staff accounts.")


def find_by_email(session: Session, email: str) -> StaffUser | None:
    """The account of that address (any case), or None."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        return None
    return session.scalar(select(StaffUser).where(StaffUser.email == address))


def get_staff_user(session: Session, user_id: str, *, actor: Actor) -> StaffUser:
    """A staff account an admin may manage."""
    _require_admin(actor)
    user = session.get(StaffUser, user_id) if usable_id(user_id) else None
    if user is None:
        raise NotFound("No such staff account.")
    return user


def load_signed_in(session: Session, user_id: str, version: int) -> StaffUser | None:
    """The account a session names, if it is still active and the session is of its current version."""
    user = session.get(StaffUser, user_id) if usable_id(user_id) else None
    if user is None or user.status != "active" or user.session_version != version:
        return None
    return user


def create_staff_user(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    merchant_id: str | None = None,
    password: str | None = None,
    actor: Actor,
) -> StaffUser:
    """Open a staff account; without a password its owner sets one through a reset link."""
    _require_admin(actor)
    if role not in STAFF_ROLES:
        raise ValidationFailed(f"The role is one of {', '.join(STAFF_ROLES)}.", errors={"role": ["Unknown role."]})
    address = normalise_email(email or "")
    clean_name = clean_text(name, "name", max_length=200, required=True)
    if role == "merchant":
        if not merchant_id:
            raise ValidationFailed(
                "A merchant's staff account names its merchant.", errors={"merchant_id": ["Required."]}
            )
        merchant_id = get_merchant(session, merchant_id, actor=actor).id
    elif merchant_id:
        raise ValidationFailed(
            "Only merchant staff are bound to a merchant.", errors={"merchant_id": ["Only for the merchant role."]}
        )
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)):
        raise Conflict("A staff account with that email exists.", errors={"email": ["Already in use."]})
    password_hash = None
    if password:
        password_hash = logins.hash_password(logins.check_new_password(password, personal=(address, clean_name)))
    user = StaffUser(
        email=address,
        name=clean_name,
        role=role,
        merchant_id=merchant_id or None,
        password_hash=password_hash,
        status="active",
        session_version=1,
        failed_attempts=0,
    )
    session.add(user)
    session.flush()
    _audit(session, user, "staff_user.create", actor, {"email": address, "role": role})
    return user


def list_staff_users(
    session: Session, *, limit: int, cursor: str | None, search: str | None = None, actor: Actor
) -> Page[StaffUser]:
    """Staff accounts, newest first, optionally those whose email or name contains ``search``."""
    _require_admin(actor)
    query = select(StaffUser)
    if search:
        text = search.strip().lower()
        query = query.where(
            or_(
                StaffUser.email.contains(text, autoescape=True),
                func.lower(StaffUser.name).contains(text, autoescape=True),
            )
        )
    return paginate(session, query, StaffUser.id, limit=limit, cursor=cursor)


def set_staff_status(session: Session, *, user_id: str, status: str, actor: Actor) -> StaffUser:
    """Disable an account (its sessions end at once) or enable it again."""
    user = get_staff_user(session, user_id, actor=actor)
    if status not in ("active", "disabled"):
        raise ValidationFailed("The status is active or disabled.", errors={"status": ["Unknown status."]})
    if user.status != status:
        user.status = status
        user.session_version += 1
        session.flush()
        _audit(session, user, f"staff_user.{'enable' if status == 'active' else 'disable'}", actor)
    return user


def authenticate(session: Session, *, email: str, password: str) -> StaffUser:
    """The active account whose email and password these are; ``InvalidCredentials`` otherwise.

    A failure is counted on the account (the caller commits either way); a
    success clears the count and upgrades an old hash.
    """
    user = find_by_email(session, email or "")
    check = logins.verify_password(user.password_hash if user else None, password or "")
    if user is None or not check.ok or user.status != "active":
        if user is not None:
            logins.record_attempt(user, ok=False)
            session.flush()
        raise InvalidCredentials()
    if check.new_hash:
        user.password_hash = check.new_hash
    logins.record_attempt(user, ok=True)
    session.flush()
    return user


def request_password_reset(session: Session, *, email: str, link_base: str) -> None:
    """Send a one-time reset link to an active account of that address; nothing is said of unknown ones.

    ``link_base`` is the reset page's URL; the token is appended to it.
    """
    user = find_by_email(session, email or "")
    if user is None or user.status != "active":
        return
    _token, secret = logins.issue_link_token(
        session, purpose=RESET_PURPOSE, subject_id=user.id, lifetime=RESET_LIFETIME
    )
    queue_notification(
        session,
        member_id=None,
        email=user.email,
        phone=None,
        template="staff_password_reset",
        data={"name": user.name, "link": f"{link_base}{secret}", "minutes": int(RESET_LIFETIME.total_seconds() // 60)},
    )


def check_reset_token(session: Session, *, secret: str) -> StaffUser:
    """The account a reset link is for, without spending it; ``TokenInvalid`` when it is not usable."""
    token = logins.find_link_token(session, purpose=RESET_PURPOSE, secret=secret)
    user = session.get(StaffUser, token.subject_id)
    if user is None or user.status != "active":
        raise TokenInvalid()
    return user


def reset_password(session: Session, *, secret: str, password: str) -> StaffUser:
    """Set a new password with a reset link, once; every session of the account ends."""
    user = check_reset_token(session, secret=secret)
    new_hash = logins.hash_password(logins.check_new_password(password, personal=(user.email, user.name)))
    logins.spend_link_token(session, purpose=RESET_PURPOSE, secret=secret)
    user.password_hash = new_hash
    user.session_version += 1
    user.failed_attempts = 0
    session.flush()
    actor = actor_for_staff(user)
    _audit(session, user, "staff_user.reset_password", actor)
    return user


def change_password(session: Session, *, user: StaffUser, current: str, new: str) -> StaffUser:
    """Change one's own password knowing the current one; other sessions end."""
    if not logins.verify_password(user.password_hash, current or "").ok:
        raise InvalidCredentials("The current password is wrong.")
    user.password_hash = logins.hash_password(logins.check_new_password(new, personal=(user.email, user.name)))
    user.session_version += 1
    session.flush()
    _audit(session, user, "staff_user.change_password", actor_for_staff(user))
    return user
