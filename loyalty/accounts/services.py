"""Members signing in to the portal: sign up, claim a card enrolled at a till, log in, reset a password, close.

A member signs in with the email on their member record and a password of
their own. Signing up with an email no member has enrols a new member at once.
An email or card that belongs to a member already is taken over only by
whoever proves they read that member's messages: a six-digit code is sent to
the address on file, and the account is linked when it is typed back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.accounts.models import MarketingConsent, MemberLogin
from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.contacts import normalise_email
from loyalty.db import utcnow
from loyalty.errors import InvalidCredentials, InvalidState, TokenInvalid, ValidationFailed
from loyalty.logins import services as logins
from loyalty.members import services as members
from loyalty.members.models import Member
from loyalty.notifications.services import queue_notification
from loyalty.program.services import get_program

CODE_LIFETIME = timedelta(minutes=15)
# A new code is sent at most this often to one member, however often the form is sent.
RESEND_INTERVAL = timedelta(seconds=60)
RESET_LIFETIME = timedelta(hours=1)
# What each one-time secret is for (``login_tokens.purpose``).
LINK, CLAIM, RESET = "member-link", "member-claim", "member-reset"


def member_actor(member_id: str, request_id: str | None = None) -> Actor:
    """A member acting on their own account, in the portal."""
    return Actor(kind="member", name=member_id, request_id=request_id)


@dataclass(frozen=True)
class SignUp:
    member: Member
    signed_in: bool  # False: a code went to the email first, to prove it is theirs
    sent_to: str | None = None
    # Kept by the browser that signed up (its session), and needed with the code: a code sent
    # because someone else typed this email cannot set that someone's password.
    browser_key: str | None = None


def mask_address(address: str | None) -> str | None:
    """Enough of an email or phone for its owner to recognise, not enough to learn it from."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{address[-3:]}"


def _personal(member: Member | None, *extra: str | None) -> tuple[str | None, ...]:
    values = [*extra]
    if member is not None:
        values += [member.email.split("@")[0] if member.email else None, member.phone, member.name]
    return tuple(values)


def _send_code(session: Session, member: Member, code: str, *, email_only: bool) -> str | None:
    queue_notification(
        session,
        member_id=member.id,
        email=member.email,
        phone=None if email_only else member.phone,
        template="portal_code",
        data={
            "program": get_program(session).name,
            "name": member.name or "there",
            "code": code,
            "minutes": int(CODE_LIFETIME.total_seconds() // 60),
        },
    )
    return mask_address(member.email or (None if email_only else member.phone))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _set_password(session: Session, member: Member, password_hash: str, *, actor: Actor) -> MemberLogin:
    """Give the member this password, signing out every browser signed in with the one before."""
    login = session.get(MemberLogin, member.id, with_for_update=True, populate_existing=True)
    now = utcnow()
    if login is None:
        login = MemberLogin(member_id=member.id, password_hash=password_hash, session_version=1, created_at=now)
        session.add(login)
        action = "member.login_create"
    else:
        login.password_hash = password_hash
        login.session_version += 1
        action = "member.password_change"
    login.password_changed_at = now
    login.failed_attempts = 0
    session.flush()
    record_event(session, actor=actor, action=action, object_type="member", object_id=member.id)
    return login


def sign_up(
    session: Session, *, email: str, password: str, name: str | None, locale: str, request_id: str | None = None
) -> SignUp:
    """Enrol a new member who signs in with this email and password, or send a code to link an existing one."""
    address = normalise_email(email or "")
    logins.check_new_password(password, personal=(address.split("@")[0], name))
    existing = members.lookup_members(session, email=address)
    if existing is None:
        member = members.enrol_member(
            session,
            email=address,
            phone=None,
            name=name,
            locale=locale,
            actor=Actor(kind="member", name="portal sign-up", request_id=request_id),
        )
        _set_password(session, member, logins.hash_password(password), actor=member_actor(member.id, request_id))
        return SignUp(member=member, signed_in=True)
    if existing.status != members.ACTIVE:
        raise InvalidState("The account is not active.")
    browser_key = secrets.token_urlsafe(24)
    _, code = logins.issue_code(
        session,
        purpose=LINK,
        subject_id=existing.id,
        lifetime=CODE_LIFETIME,
        data={"password_hash": logins.hash_password(password), "browser_key": _digest(browser_key)},
    )
    sent_to = _send_code(session, existing, code, email_only=True)
    return SignUp(member=existing, signed_in=False, sent_to=sent_to, browser_key=browser_key)


def confirm_sign_up(
    session: Session, *, member_id: str, code: str, browser_key: str, request_id: str | None = None
) -> Member:
    """Link the portal account to an existing member with the code sent to their email; ``TokenInvalid`` if wrong.

    Only the browser that chose the password (``browser_key``) can use the code. The caller
    commits even when the code is wrong, so that wrong guesses count.
    """
    member = members.get_member(session, member_id)
    token = logins.spend_code(session, purpose=LINK, subject_id=member.id, code=code)
    if not hmac.compare_digest(token.data.get("browser_key", ""), _digest(browser_key or "")):
        raise TokenInvalid()
    if member.status != members.ACTIVE:
        raise InvalidState("The account is not active.")
    _set_password(session, member, token.data["password_hash"], actor=member_actor(member.id, request_id))
    return member


def start_card_claim(session: Session, *, card_number: str) -> tuple[Member, str | None]:
    """Send a code to the email or phone on file of the card's member: ``(member, where it went, masked)``."""
    member = members.find_member(session, card_number=card_number)
    if member.status != members.ACTIVE:
        raise InvalidState("The account is not active.")
    sent_to = mask_address(member.email or member.phone)
    last = logins.last_issued_at(session, purpose=CLAIM, subject_id=member.id)
    if last is not None and utcnow() - last < RESEND_INTERVAL:
        return member, sent_to  # the code sent a moment ago still works; no message flood
    _, code = logins.issue_code(session, purpose=CLAIM, subject_id=member.id, lifetime=CODE_LIFETIME)
    return member, _send_code(session, member, code, email_only=False)


def finish_card_claim(
    session: Session, *, member_id: str, code: str, email: str | None, password: str, request_id: str | None = None
) -> Member:
    """With the code sent to the card's member, choose the password (and the email, for a member without one)."""
    member = members.get_member(session, member_id)
    address = member.email
    if address is None:
        if not email:
            raise ValidationFailed("An email is needed to sign in.", errors={"email": ["Required."]})
        address = normalise_email(email)
    logins.check_new_password(password, personal=_personal(member, address.split("@")[0]))
    logins.spend_code(session, purpose=CLAIM, subject_id=member.id, code=code)
    if member.status != members.ACTIVE:
        raise InvalidState("The account is not active.")
    actor = member_actor(member.id, request_id)
    if member.email is None:
        members.update_member(session, member_id=member.id, changes={"email": address}, actor=actor)
    _set_password(session, member, logins.hash_password(password), actor=actor)
    return member


def log_in(session: Session, *, email: str, password: str) -> tuple[Member, MemberLogin]:
    """The member with that email and password; ``InvalidCredentials`` for any mismatch, after the same work.

    The attempt is counted on the account; the caller commits either way.
    """
    try:
        address = normalise_email(email or "")
    except ValidationFailed:
        address = None
    member = members.lookup_members(session, email=address) if address else None
    login = session.get(MemberLogin, member.id, with_for_update=True) if member is not None else None
    check = logins.verify_password(login.password_hash if login else None, password)
    if login is None:
        raise InvalidCredentials()
    logins.record_attempt(login, ok=check.ok)
    if check.new_hash:
        login.password_hash = check.new_hash
    session.flush()
    if not check.ok or member.status != members.ACTIVE:
        raise InvalidCredentials()
    return member, login


def signed_in_member(session: Session, member_id: str, version: int) -> Member | None:
    """The active member a session names, while its session version is current; else None (one query)."""
    row = session.execute(
        select(Member)
        .join(MemberLogin, MemberLogin.member_id == Member.id)
        .where(Member.id == member_id, Member.status == members.ACTIVE, MemberLogin.session_version == version)
    ).scalar_one_or_none()
    return row


def session_version(session: Session, member_id: str) -> int:
    """The member's current session version, to sign a browser in with."""
    login = session.get(MemberLogin, member_id)
    if login is None:
        raise InvalidCredentials()
    return login.session_version


def request_password_reset(session: Session, *, email: str, link_for) -> None:
    """Email a link to choose a new password, if that email signs in to the portal; say nothing either way.

    ``link_for(secret)`` makes the link's URL.
    """
    try:
        address = normalise_email(email or "")
    except ValidationFailed:
        return
    member = members.lookup_members(session, email=address)
    if member is None or member.status != members.ACTIVE or session.get(MemberLogin, member.id) is None:
        return
    _, secret = logins.issue_link_token(session, purpose=RESET, subject_id=member.id, lifetime=RESET_LIFETIME)
    queue_notification(
        session,
        member_id=member.id,
        email=member.email,
        phone=None,
        template="password_reset",
        data={
            "program": get_program(session).name,
            "name": member.name or "there",
            "link": link_for(secret),
            "minutes": int(RESET_LIFETIME.total_seconds() // 60),
        },
    )


def check_reset_link(session: Session, *, secret: str) -> Member:
    """The member a reset link is for, while it is valid; ``TokenInvalid`` otherwise (nothing is spent)."""
    token = logins.find_link_token(session, purpose=RESET, secret=secret)
    member = members.get_member(session, token.subject_id)
    if member.status != members.ACTIVE:
        raise TokenInvalid()
    return member


def reset_password(session: Session, *, secret: str, password: str, request_id: str | None = None) -> Member:
    """Choose a new password with a reset link, once; every browser signed in before is signed out."""
    member = check_reset_link(session, secret=secret)
    logins.check_new_password(password, personal=_personal(member))
    logins.spend_link_token(session, purpose=RESET, secret=secret)
    _set_password(session, member, logins.hash_password(password), actor=member_actor(member.id, request_id))
    return member


def change_password(
    session: Session, *, member_id: str, current: str, new: str, request_id: str | None = None
) -> MemberLogin:
    """Change the password, knowing the current one."""
    member = members.get_member(session, member_id)
    login = session.get(MemberLogin, member_id)
    if login is None or not logins.verify_password(login.password_hash, current).ok:
        raise InvalidCredentials("The current password is wrong.", errors={"current_password": ["Wrong password."]})
    logins.check_new_password(new, personal=_personal(member))
    return _set_password(session, member, logins.hash_password(new), actor=member_actor(member_id, request_id))


def close_account(session: Session, *, member_id: str, password: str, request_id: str | None = None) -> Member:
    """Erase the member's personal data and close the account, with their password as confirmation."""
    login = session.get(MemberLogin, member_id)
    if login is None or not logins.verify_password(login.password_hash, password).ok:
        raise InvalidCredentials("The password is wrong.", errors={"password": ["Wrong password."]})
    member = members.erase_member(session, member_id=member_id, actor=member_actor(member_id, request_id))
    session.execute(delete(MemberLogin).where(MemberLogin.member_id == member_id))
    session.execute(delete(MarketingConsent).where(MarketingConsent.member_id == member_id))
    logins.forget_subject(session, subject_id=member_id)
    session.flush()
    return member
