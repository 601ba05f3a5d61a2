"""What members do for themselves in the portal: their profile and consents, redeeming, cancelling, claiming.

Each function takes the signed-in member's id and reaches only that member's
data: another member's redemption is not found, as if it did not exist.
Redemptions reuse ``loyalty.rewards`` with the portal form's key as the
idempotency key, so a form sent twice redeems once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.accounts.models import MarketingConsent
from loyalty.accounts.services import member_actor
from loyalty.audit.services import record_event
from loyalty.db import utcnow
from loyalty.errors import NotFound, ValidationFailed
from loyalty.idempotency import request_hash
from loyalty.members import services as members
from loyalty.members.models import Member
from loyalty.purchases.services import claim_purchase
from loyalty.rewards import services as rewards
from loyalty.rewards import usage
from loyalty.rewards.models import Redemption

CHANNELS = ("email", "sms")
PORTAL = "portal"


# ---- profile and consent ---------------------------------------------------------------------


def update_profile(
    session: Session, *, member_id: str, changes: dict[str, Any], request_id: str | None = None
) -> Member:
    """Change the member's name, contact details or language; signing in needs an email, so it stays."""
    allowed = {"name", "email", "phone", "locale"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))} here.")
    if "email" in changes and not changes["email"]:
        raise ValidationFailed("You sign in with your email: it cannot be removed.", errors={"email": ["Required."]})
    return members.update_member(
        session, member_id=member_id, changes=changes, actor=member_actor(member_id, request_id)
    )


def marketing_consents(session: Session, member: Member) -> dict[str, bool]:
    """Each channel's consent; a channel never answered follows the consent given at enrolment."""
    rows = {
        row.channel: row.granted
        for row in session.scalars(select(MarketingConsent).where(MarketingConsent.member_id == member.id))
    }
    return {channel: rows.get(channel, bool(member.marketing_opt_in)) for channel in CHANNELS}


def set_marketing_consents(
    session: Session, *, member_id: str, granted: dict[str, bool], request_id: str | None = None
) -> dict[str, bool]:
    """Record the member's consent per channel (audited with the answers); ``marketing_opt_in`` follows."""
    unknown = set(granted) - set(CHANNELS)
    if unknown:
        raise ValidationFailed(f"Unknown channels: {', '.join(sorted(unknown))}.")
    member = members.get_member(session, member_id)
    before = marketing_consents(session, member)
    now = utcnow()
    changed = {}
    for channel in CHANNELS:
        value = bool(granted.get(channel, before[channel]))
        row = session.get(MarketingConsent, (member_id, channel))
        if row is None:
            session.add(
                MarketingConsent(member_id=member_id, channel=channel, granted=value, changed_at=now, source=PORTAL)
            )
        elif row.granted != value:
            row.granted, row.changed_at, row.source = value, now, PORTAL
        if value != before[channel]:
            changed[channel] = value
    session.flush()
    after = {channel: bool(granted.get(channel, before[channel])) for channel in CHANNELS}
    actor = member_actor(member_id, request_id)
    if bool(member.marketing_opt_in) != any(after.values()):
        members.update_member(
            session, member_id=member_id, changes={"marketing_opt_in": any(after.values())}, actor=actor
        )
    if changed:
        record_event(
            session, actor=actor, action="member.consent", object_type="member", object_id=member_id, data=changed
        )
    return after


# ---- rewards ---------------------------------------------------------------------------------


def redeem(
    session: Session, *, member_id: str, reward_id: str, form_key: str, request_id: str | None = None
) -> dict[str, Any]:
    """Redeem a reward once per form: the same form sent again answers the first redemption's receipt."""
    actor = member_actor(member_id, request_id)
    outcome = rewards.redeem_reward(
        session,
        member_id=member_id,
        reward_id=reward_id,
        idempotency_key=f"portal:{form_key}",
        fingerprint=request_hash({"reward_id": reward_id}),
        actor=actor,
    )
    receipt = outcome.receipt
    if not outcome.replayed:
        record_event(
            session,
            actor=actor,
            action="redemption.create",
            object_type="redemption",
            object_id=receipt["id"],
            data={"member_id": member_id, "reward_id": reward_id, "points": receipt["points"]},
        )
    return receipt


def own_redemption(session: Session, *, member_id: str, redemption_id: str) -> Redemption:
    """One of the member's redemptions; anyone else's is not found."""
    redemption = rewards.get_redemption(session, redemption_id, actor=member_actor(member_id))
    if redemption.member_id != member_id:
        raise NotFound("No such redemption.")
    return redemption


def cancel(session: Session, *, member_id: str, redemption_id: str, request_id: str | None = None) -> Redemption:
    """Cancel one of the member's unused reward codes: the points come back (audited by the rewards area)."""
    own_redemption(session, member_id=member_id, redemption_id=redemption_id)
    redemption, _balance = usage.cancel_redemption(
        session, redemption_id=redemption_id, actor=member_actor(member_id, request_id)
    )
    return redemption


# ---- claims ----------------------------------------------------------------------------------


def claim(session: Session, *, member_id: str, claim_code: str, request_id: str | None = None) -> dict[str, Any]:
    """Claim the points of a purchase made without the card, with the code on its receipt (audited)."""
    if not isinstance(claim_code, str) or not claim_code.strip() or len(claim_code) > 40:
        raise NotFound("No purchase has that claim code.", errors={"claim_code": ["Unknown code."]})
    actor = member_actor(member_id, request_id)
    result = claim_purchase(session, member_id=member_id, claim_code=claim_code, actor=actor)
    record_event(
        session,
        actor=actor,
        action="purchase.claim",
        object_type="purchase",
        object_id=result["purchase_id"],
        data={"member_id": member_id, "points": result["points"]},
    )
    return result
