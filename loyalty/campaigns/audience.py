"""A campaign's audience: the filter checked once, then turned into one SQL statement.

The filter is a JSON object; every key is optional and the keys given must all
hold (AND); a list matches any of its values (OR)::

    {"lifecycle_stages": ["at_risk", "lapsed"],   # members.lifecycle_stage
     "rfm_segments": ["champions"],               # member_analytics.rfm_segment
     "value_bands": [4, 5],                       # member_analytics.value_band (5 highest)
     "tiers": ["gold"],                           # members.tier_code
     "days_since_last_purchase": {"min": 30, "max": 120},
     "merchant_ids": ["mer_..."],                 # bought at any of them, ever
     "consent": ["email", "sms"]}                 # consents to at least one of them

A member without analytics matches no segment or value band filter; a member
who never bought matches no days-since-last-purchase bound. Only active members
are ever selected: a closed, suspended or erased one never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, cast, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from loyalty.accounts.models import MarketingConsent
from loyalty.analytics.models import LIFECYCLE_STAGES, MemberAnalytics
from loyalty.campaigns.models import CHANNELS
from loyalty.db import BUCKETS, is_postgres, utcnow
from loyalty.errors import ValidationFailed
from loyalty.members.models import Member
from loyalty.purchases.models import Purchase

LIST_KEYS = ("lifecycle_stages", "rfm_segments", "value_bands", "tiers", "merchant_ids", "consent")
KEYS = (*LIST_KEYS, "days_since_last_purchase")
MAX_VALUES = 200
MAX_DAYS = 36_500
# Channels whose consent lives in marketing_consents; the partner webhook follows the general opt-in.
CONSENT_CHANNELS = ("email", "sms")


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"The audience is not valid: {field} {message}.", errors={f"audience.{field}": [message]})


def check_audience(audience: Any) -> dict[str, Any]:
    """The audience filter as stored (keys in a fixed shape), or ``ValidationFailed`` naming the field."""
    if audience is None:
        return {}
    if not isinstance(audience, Mapping):
        raise _fail("", "must be an object")
    unknown = sorted(set(audience) - set(KEYS))
    if unknown:
        raise _fail(unknown[0], f"is not a filter (the filters are {', '.join(KEYS)})")
    checked: dict[str, Any] = {}
    for key in LIST_KEYS:
        values = audience.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or len(values) > MAX_VALUES:
            raise _fail(key, f"must be a list of at most {MAX_VALUES} values")
        if key == "value_bands":
            if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5 for v in values):
                raise _fail(key, "must hold whole numbers from 1 to 5")
        elif any(not isinstance(v, str) or not v or len(v) > 100 for v in values):
            raise _fail(key, "must hold non-empty strings")
        if key == "lifecycle_stages" and (bad := [v for v in values if v not in LIFECYCLE_STAGES]):
            raise _fail(key, f"has unknown stage {bad[0]!r} (the stages are {', '.join(LIFECYCLE_STAGES)})")
        if key == "consent" and (bad := [v for v in values if v not in CHANNELS]):
            raise _fail(key, f"has unknown channel {bad[0]!r} (the channels are {', '.join(CHANNELS)})")
        if values:
            checked[key] = sorted(set(values))
    days = audience.get("days_since_last_purchase")
    if days is not None:
        if not isinstance(days, Mapping) or set(days) - {"min", "max"}:
            raise _fail("days_since_last_purchase", "must be {min, max}")
        bounds = {}
        for bound in ("min", "max"):
            value = days.get(bound)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
                raise _fail(f"days_since_last_purchase.{bound}", f"must be a whole number from 0 to {MAX_DAYS}")
            bounds[bound] = value
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise _fail("days_since_last_purchase", "min is above max")
        if bounds:
            checked["days_since_last_purchase"] = bounds
    return checked


def consent_expression(channel: str) -> ColumnElement[bool]:
    """Whether the member (``members`` row of the outer query) consents to marketing on ``channel``.

    As ``loyalty.accounts.selfservice.marketing_consents``: a channel's own answer, else the
    consent given at enrolment (``marketing_opt_in``). The partner webhook has no answer of its own.
    """
    if channel not in CONSENT_CHANNELS:
        return Member.marketing_opt_in.is_(True)
    answer = (
        select(MarketingConsent.granted)
        .where(MarketingConsent.member_id == Member.id, MarketingConsent.channel == channel)
        .scalar_subquery()
    )
    return func.coalesce(answer, Member.marketing_opt_in).is_(True)


def eligible() -> ColumnElement[bool]:
    """Members a campaign may ever select: active, not erased."""
    return and_(Member.status == "active", Member.erased_at.is_(None))


def audience_conditions(audience: Mapping[str, Any], *, now: datetime) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a checked audience (over ``members`` left-joined to ``member_analytics``)."""
    conditions: list[ColumnElement[bool]] = [eligible()]
    if stages := audience.get("lifecycle_stages"):
        conditions.append(Member.lifecycle_stage.in_(stages))
    if tiers := audience.get("tiers"):
        conditions.append(Member.tier_code.in_(tiers))
    if segments := audience.get("rfm_segments"):
        conditions.append(MemberAnalytics.rfm_segment.in_(segments))
    if bands := audience.get("value_bands"):
        conditions.append(MemberAnalytics.value_band.in_(bands))
    days = audience.get("days_since_last_purchase") or {}
    if "min" in days:
        conditions.append(Member.last_purchase_at <= now - timedelta(days=days["min"]))
    if "max" in days:
        conditions.append(Member.last_purchase_at > now - timedelta(days=days["max"] + 1))
    if merchants := audience.get("merchant_ids"):
        conditions.append(
            exists().where(Purchase.member_id == Member.id, Purchase.merchant_id.in_(merchants)).correlate(Member)
        )
    if channels := audience.get("consent"):
        conditions.append(or_(*(consent_expression(channel) for channel in channels)))
    return conditions


def needs_analytics(audience: Mapping[str, Any]) -> bool:
    return bool(audience.get("rfm_segments") or audience.get("value_bands"))


def audience_query(audience: Mapping[str, Any], *, now: datetime | None = None, columns: list | None = None) -> Select:
    """``SELECT <columns> FROM members [LEFT JOIN member_analytics] WHERE <audience>``; member ids by default."""
    now = now or utcnow()
    query = select(*(columns or [Member.id])).select_from(Member)
    if needs_analytics(audience):
        # An outer join: a member without analytics has NULL segment and band, which no IN matches.
        query = query.outerjoin(MemberAnalytics, MemberAnalytics.member_id == Member.id)
    return query.where(*audience_conditions(audience, now=now))


def count_audience(session: Session, audience: Mapping[str, Any], *, now: datetime | None = None) -> int:
    """How many members the audience selects now (the console's live estimate)."""
    query = audience_query(check_audience(audience), now=now)
    return session.scalar(select(func.count()).select_from(query.subquery()))


def bucket_expression(session: Session, campaign_id: str) -> ColumnElement[int]:
    """The member's stable bucket ``0..BUCKETS-1`` for this campaign: ``loyalty.db.stable_bucket`` in SQL."""
    key = literal(f"{campaign_id}:") + Member.id
    if is_postgres(session):
        # The first 8 hex digits of the MD5 as an unsigned 32-bit number, as stable_bucket computes it.
        digits = func.substr(func.md5(key), 1, 8)
        return cast(cast(literal("x") + digits, BIT(32)), BigInteger) % BUCKETS
    return func.stable_bucket(key)
