"""A campaign's message: on each channel the member consents to, within the program's contact cap.

The cap is counted in ``contacts`` under the members' locks, which the batch
(``loyalty.campaigns.jobs.deliver_batch``) took before calling here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from loyalty.accounts.models import MarketingConsent
from loyalty.campaigns.audience import CONSENT_CHANNELS
from loyalty.campaigns.models import Campaign, Contact
from loyalty.db import isoformat_z
from loyalty.members.models import Member
from loyalty.notifications.services import queue_notifications
from loyalty.program.services import get_program
from loyalty.webhooks.sending import emit_events


def _consents(session: Session, members: list[Member]) -> dict[str, dict[str, bool]]:
    """Each member's consent per channel, as ``loyalty.campaigns.audience.consent_expression`` judges it."""
    answers: dict[tuple[str, str], bool] = {
        (row.member_id, row.channel): row.granted
        for row in session.execute(
            select(MarketingConsent.member_id, MarketingConsent.channel, MarketingConsent.granted).where(
                MarketingConsent.member_id.in_([m.id for m in members])
            )
        )
    }
    result = {}
    for member in members:
        opt_in = bool(member.marketing_opt_in)
        result[member.id] = {
            "email": bool(answers.get((member.id, "email"), opt_in)),
            "sms": bool(answers.get((member.id, "sms"), opt_in)),
            "webhook": opt_in,
        }
    return result


def contacts_in_window(session: Session, member_ids: list[str], *, days: int, now: datetime) -> dict[str, int]:
    """Campaign messages each member was sent in the last ``days`` days (the cap's count)."""
    if not member_ids:
        return {}
    return dict(
        session.execute(
            select(Contact.member_id, func.count())
            .where(Contact.member_id.in_(member_ids), Contact.contacted_at > now - timedelta(days=days))
            .group_by(Contact.member_id)
        ).all()
    )


def _text_for(campaign: Campaign, locale: str) -> dict[str, str]:
    message = campaign.message or {}
    text = message.get(locale) or message.get("en") or next(iter(message.values()), {})
    return {"subject": text.get("subject") or campaign.name, "body": text.get("body", "")}


def send_messages(session: Session, campaign: Campaign, members: list[Member], *, now: datetime, progress: dict) -> int:
    """Send the campaign's message on each channel the member consents to, within the cap; return contacts made."""
    channels = list(campaign.channels or [])
    if not channels or not members:
        return 0
    program = get_program(session)
    used = contacts_in_window(session, [m.id for m in members], days=program.contact_cap_days, now=now)
    consents = _consents(session, members)
    notes: list[dict[str, Any]] = []
    note_members: list[tuple[str, str]] = []
    events: list[tuple[str, list[str | None], dict[str, Any]]] = []
    event_members: list[str] = []
    merchant_ids = (campaign.audience or {}).get("merchant_ids") or []
    blocked_consent = blocked_cap = 0
    for member in members:
        left = program.contact_cap_count - used.get(member.id, 0)
        for channel in channels:
            if not consents[member.id][channel]:
                blocked_consent += 1
                continue
            if (channel == "email" and not member.email) or (channel == "sms" and not member.phone):
                continue
            if left <= 0:
                blocked_cap += 1
                continue
            text = _text_for(campaign, member.locale)
            if channel in CONSENT_CHANNELS:
                notes.append(
                    {
                        "member_id": member.id,
                        "email": member.email,
                        "phone": member.phone,
                        "channel": channel,
                        "template": "campaign_message",
                        "data": {**text, "campaign_id": campaign.id},
                    }
                )
                note_members.append((member.id, channel))
            else:
                targets = merchant_ids or [member.enrolled_by_merchant_id]
                events.append(
                    (
                        "campaign.offer",
                        targets,
                        {
                            "campaign_id": campaign.id,
                            "member_id": member.id,
                            "card_number": member.card_number,
                            "offer": campaign.offer,
                            "locale": member.locale,
                            "subject": text["subject"],
                            "body": text["body"],
                            "ends_at": isoformat_z(campaign.ends_at),
                        },
                    )
                )
                event_members.append(member.id)
            left -= 1
    rows: list[dict[str, Any]] = []
    for (member_id, channel), notification in zip(note_members, queue_notifications(session, notes), strict=True):
        rows.append(
            {
                "member_id": member_id,
                "campaign_id": campaign.id,
                "channel": channel,
                "contacted_at": now,
                "notification_id": notification.id if notification else None,
            }
        )
    if events:
        emit_events(session, events)
        rows.extend(
            {
                "member_id": m,
                "campaign_id": campaign.id,
                "channel": "webhook",
                "contacted_at": now,
                "notification_id": None,
            }
            for m in event_members
        )
    if rows:
        session.execute(insert(Contact.__table__), rows)
    progress["not_contacted_consent"] = progress.get("not_contacted_consent", 0) + blocked_consent
    progress["not_contacted_cap"] = progress.get("not_contacted_cap", 0) + blocked_cap
    return len(rows)
