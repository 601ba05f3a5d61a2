"""Members: enrol, find, update and erase."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalty.actors import Actor
from loyalty.audit.services import record_event
from loyalty.contacts import check_locale, normalise_email, normalise_phone
from loyalty.db import utcnow
from loyalty.errors import InvalidState, MemberExists, MemberNotFound, NotFound, ValidationFailed
from loyalty.members import cards
from loyalty.members.models import Member
from loyalty.notifications.services import forget_recipient, queue_notification
from loyalty.pagination import Page, paginate
from loyalty.program.services import get_program
from loyalty.tiers.services import entry_tier_code
from loyalty.webhooks import events as webhook_events

ACTIVE = "active"
SUSPENDED = "suspended"
CLOSED = "closed"
STATUSES = (ACTIVE, SUSPENDED, CLOSED)

# Referral codes are read aloud and typed: no 0/O, 1/I/L.
_REFERRAL_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_REFERRAL_LENGTH = 8
# A fresh card number or referral code colliding with an existing one is
# rare (1 in 10^11 per member); a few tries are plenty.
_ATTEMPTS = 5
UPDATABLE = ("email", "phone", "name", "locale", "marketing_opt_in", "status", "birth_month")


def _new_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(_REFERRAL_LENGTH))


def check_birth_month(value: Any) -> int | None:
    """A month 1..12 (birthday rules read it), or None; ``ValidationFailed`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        raise ValidationFailed("The birth month is a whole number from 1 to 12.", errors={"birth_month": ["1 to 12."]})
    return value


def _check_contacts_free(session: Session, *, email: str | None, phone: str | None, except_id: str | None) -> None:
    clauses = []
    if email:
        clauses.append(Member.email == email)
    if phone:
        clauses.append(Member.phone == phone)
    if not clauses:
        return
    query = select(Member.email, Member.phone).where(or_(*clauses))
    if except_id:
        query = query.where(Member.id != except_id)
    taken = session.execute(query.limit(2)).all()
    if taken:
        fields = {}
        if email and any(row.email == email for row in taken):
            fields["email"] = ["Already enrolled."]
        if phone and any(row.phone == phone for row in taken):
            fields["phone"] = ["Already enrolled."]
        raise MemberExists("A member with that email or phone is already enrolled.", errors=fields)


def enrol_member(
    session: Session,
    *,
    email: str | None,
    phone: str | None,
    name: str | None,
    locale: str | None = None,
    marketing_opt_in: bool = False,
    referral_code: str | None = None,
    birth_month: int | None = None,
    actor: Actor,
) -> Member:
    """Enrol a shopper, with a new card, and queue the welcome message."""
    email = normalise_email(email) if email else None
    phone = normalise_phone(phone) if phone else None
    if not email and not phone:
        raise ValidationFailed(
            "A member needs an email or a phone number.",
            errors={"email": ["Give an email or a phone."], "phone": ["Give an email or a phone."]},
        )
    name = (name or "").strip() or None
    locale = check_locale(locale or "en")
    birth_month = check_birth_month(birth_month)
    referrer_id = None
    if referral_code:
        referrer_id = session.scalar(
            select(Member.id).where(Member.referral_code == referral_code.strip().upper(), Member.status == ACTIVE)
        )
        if referrer_id is None:
            raise ValidationFailed("No member has that referral code.", errors={"referral_code": ["Unknown code."]})
    _check_contacts_free(session, email=email, phone=phone, except_id=None)
    tier_code = entry_tier_code(session)

    for attempt in range(_ATTEMPTS):
        member = Member(
            email=email,
            phone=phone,
            name=name,
            locale=locale,
            marketing_opt_in=bool(marketing_opt_in),
            birth_month=birth_month,
            status=ACTIVE,
            card_number=cards.new_card_number(),
            referral_code=_new_referral_code(),
            referred_by_member_id=referrer_id,
            enrolled_by_merchant_id=actor.merchant_id,
            enrolled_at_store_id=actor.store_id,
            tier_code=tier_code,
        )
        try:
            with session.begin_nested():
                session.add(member)
        except IntegrityError:
            # Either a concurrent enrolment took the email or phone (then this
            # is a duplicate), or the random card number or code collided.
            _check_contacts_free(session, email=email, phone=phone, except_id=None)
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        break

    record_event(
        session,
        actor=actor,
        action="member.enrol",
        object_type="member",
        object_id=member.id,
        merchant_id=actor.merchant_id,
        data={"store_id": actor.store_id, "referred_by": referrer_id},
    )
    webhook_events.member_enrolled(session, member)
    queue_notification(
        session,
        member_id=member.id,
        email=email,
        phone=phone,
        template="welcome",
        data={"program": get_program(session).name, "name": name or "there", "card_number": member.card_number},
    )
    return member


def get_member(session: Session, member_id: str) -> Member:
    """A member by id, closed ones included (their ledger stays readable)."""
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.")
    return member


def find_member(
    session: Session,
    *,
    member_id: str | None = None,
    card_number: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    lock: bool = False,
) -> Member:
    """The open member named by exactly one identifier; ``MemberNotFound`` otherwise.

    With ``lock`` the row is read with ``FOR NO KEY UPDATE`` (as ``ledger.lock_member``
    takes it), so finding and locking the member is one statement.
    """
    given = {
        k: v
        for k, v in (("member_id", member_id), ("card_number", card_number), ("email", email), ("phone", phone))
        if v
    }
    if len(given) != 1:
        raise ValidationFailed("Name the member by exactly one of member_id, card_number, email or phone.")
    member = lookup_members(session, lock=lock, **given)
    if member is None:
        raise MemberNotFound()
    return member


def identifier_of(
    *, card_number: str | None = None, email: str | None = None, phone: str | None = None
) -> tuple[str, str] | None:
    """The first identifier given, as the member column and its normalised value; None for none.

    A malformed one is a ``ValidationFailed``.
    """
    if card_number:
        card_number = cards.normalise_card_number(card_number)
        if not cards.is_valid_card_number(card_number):
            raise ValidationFailed(
                "A card number is 16 digits with a valid check digit; this one is mistyped.",
                errors={"card_number": ["Not a valid card number."]},
            )
        return "card_number", card_number
    if email:
        return "email", normalise_email(email)
    if phone:
        return "phone", normalise_phone(phone)
    return None


def lookup_members(
    session: Session,
    *,
    member_id: str | None = None,
    card_number: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    lock: bool = False,
) -> Member | None:
    """The open member with that identifier, or None. A malformed identifier is a ``ValidationFailed``.

    With ``lock`` the row is locked until the transaction ends and re-read, never taken from the session.
    """
    if member_id:
        if lock:
            return session.scalar(_BY_IDENTIFIER["id", True], {"value": member_id})
        member = session.get(Member, member_id)  # from the session when it holds the member already
        return member if member is not None and member.status != CLOSED else None
    identifier = identifier_of(card_number=card_number, email=email, phone=phone)
    if identifier is None:
        return None
    column, value = identifier
    return session.scalar(_BY_IDENTIFIER[column, lock], {"value": value})


def _by_identifier(column: str, lock: bool) -> Select:
    query = select(Member).where(getattr(Member, column) == bindparam("value"), Member.status != CLOSED)
    if lock:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    return query


# Built once: every purchase finds its member with one (building it anew cost a third of running it).
_BY_IDENTIFIER = {
    (column, lock): _by_identifier(column, lock)
    for column in ("card_number", "email", "phone")
    for lock in (False, True)
} | {("id", True): _by_identifier("id", True)}  # unlocked, an id is looked up in the session first


def list_members(session: Session, *, limit: int, cursor: str | None, status: str | None = None) -> Page[Member]:
    """Every member, newest first."""
    query = select(Member)
    if status:
        query = query.where(Member.status == status)
    return paginate(session, query, Member.id, limit=limit, cursor=cursor)


def update_member(session: Session, *, member_id: str, changes: dict[str, Any], actor: Actor) -> Member:
    """Change a member's contact details, language, consent or status (audited, without the values)."""
    member = get_member(session, member_id)
    if member.status == CLOSED:
        raise InvalidState("The account is closed.")
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    values = dict(changes)
    if "email" in values:
        values["email"] = normalise_email(values["email"]) if values["email"] else None
    if "phone" in values:
        values["phone"] = normalise_phone(values["phone"]) if values["phone"] else None
    if "locale" in values:
        values["locale"] = check_locale(values["locale"])
    if "name" in values:
        values["name"] = (values["name"] or "").strip() or None
    if "birth_month" in values:
        values["birth_month"] = check_birth_month(values["birth_month"])
    if "status" in values and values["status"] not in (ACTIVE, SUSPENDED):
        raise ValidationFailed(
            "Status is active or suspended; close an account by erasing it.",
            errors={"status": ["One of active, suspended."]},
        )
    email = values.get("email", member.email)
    phone = values.get("phone", member.phone)
    if not email and not phone:
        raise ValidationFailed("A member needs an email or a phone number.")
    _check_contacts_free(
        session,
        email=values.get("email"),
        phone=values.get("phone"),
        except_id=member.id,
    )
    changed = sorted(field for field, value in values.items() if getattr(member, field) != value)
    for field in changed:
        setattr(member, field, values[field])
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise MemberExists("A member with that email or phone is already enrolled.") from None
    if changed:
        record_event(
            session,
            actor=actor,
            action="member.update",
            object_type="member",
            object_id=member.id,
            data={"fields": changed},
        )
    return member


def erase_member(session: Session, *, member_id: str, actor: Actor) -> Member:
    """Erase a member's personal data and close the account; the ledger stays, anonymised."""
    member = get_member(session, member_id)
    if member.erased_at is not None:
        raise InvalidState("The member's data has already been erased.")
    member.email = None
    member.phone = None
    member.name = None
    member.card_number = None
    member.referral_code = None
    member.marketing_opt_in = False
    member.birth_month = None
    member.status = CLOSED
    member.erased_at = utcnow()
    forget_recipient(session, member_id=member.id)
    session.flush()
    record_event(session, actor=actor, action="member.erase", object_type="member", object_id=member.id)
    return member
