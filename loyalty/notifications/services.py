"""Notifications to members (and to staff, with no member): queued in the transaction, delivered by a job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.errors import NotFound
from loyalty.notifications import delivery
from loyalty.notifications.models import Notification
from loyalty.outbox.services import add_tasks, task
from loyalty.pagination import Page, paginate

TEMPLATES: dict[str, tuple[str, str]] = {
    "welcome": (
        "Welcome to {program}",
        "Hello {name}, welcome to {program}. Your card number is {card_number}. "
        "Show it at any partner's till to earn points.",
    ),
    # The tier review (loyalty.tiers.review): the warning when the grace period starts, then the fall.
    "tier_at_risk": (
        "Keep your {tier} status",
        "Hello {name}, you have {points} qualifying points over the last {window_months} months, and {tier} "
        "needs {required}. Earn {missing} more at any partner by {deadline} to keep {tier}.",
    ),
    "tier_lowered": (
        "Your tier is now {tier}",
        "Hello {name}, your qualifying points ({points}) stayed below the {required} that {old_tier} needs, "
        "so your tier is now {tier}. Every point you earn at our partners counts towards climbing back.",
    ),
    "tier_ended": (
        "Your {old_tier} status has ended",
        "Hello {name}, your qualifying points ({points}) stayed below the {required} that {old_tier} needs, "
        "so your {old_tier} status has ended. Every point you earn at our partners counts towards earning it back.",
    ),
    # The portal's one-time secrets (loyalty.accounts): never in the subject, which the log backend writes.
    "portal_code": (
        "Your {program} code",
        "Hello {name}, your code is {code}. Type it in the portal within {minutes} minutes. "
        "If you did not ask for it, ignore this message.",
    ),
    "password_reset": (
        "Choose a new {program} password",
        "Hello {name}, open {link} within {minutes} minutes to choose a new password. "
        "If you did not ask for it, ignore this message: your password stays as it is.",
    ),
    "points_expiring": (
        "{points} of your points expire soon",
        "Hello {name}, {points} of your {program} points expire {when}. Spend them at any partner before then.",
    ),
    # Service cases (loyalty.cases): how a member's missing-points case ended.
    "case_resolved": (
        "Your points are in: {subject}",
        'Hello {name}, we looked into your case "{subject}" and added {points} points to your {program} '
        "account. Thank you for telling us.",
    ),
    "case_rejected": (
        "About your case: {subject}",
        'Hello {name}, we looked into your case "{subject}" and could not add points: {reason}. '
        "If you think we got it wrong, report it again from the portal with your receipt.",
    ),
    # Staff of the console (loyalty.staff, loyalty.settlement): no member_id.
    "staff_password_reset": (
        "Set your console password",
        "Hello {name}, open {link} within {minutes} minutes to choose a new password for the staff console. "
        "If you did not ask for this, ignore this message.",
    ),
    # A campaign's message (loyalty.campaigns), written by the marketer in the member's language.
    "campaign_message": ("{subject}", "{body}"),
    "prepaid_low": (
        "{merchant}: prepaid points are running low",
        "Hello {name}, {merchant} has {balance} prepaid points left, below its warning level of {threshold}. "
        "When they run out, its own earning offers stop. Top up with the program operator.",
    ),
}

ONE_TIME_SECRETS = frozenset({"portal_code", "password_reset"})


def queue_notification(
    session: Session,
    *,
    member_id: str | None,
    email: str | None,
    phone: str | None,
    template: str,
    data: dict[str, Any],
) -> Notification | None:
    """Queue a message to the member's email, or SMS when there is no email."""
    queued = queue_notifications(
        session, [{"member_id": member_id, "email": email, "phone": phone, "template": template, "data": data}]
    )
    return queued[0] if queued else None


def queue_notifications(session: Session, messages: Iterable[Mapping[str, Any]]) -> list[Notification | None]:
    """Queue many messages as ``queue_notification`` does each, with one insert per table for them all.

    Each message is ``{member_id, email, phone, template, data}``, with an optional
    ``channel`` (``email`` or ``sms``) that sends on that channel only; the result is
    in the same order, None where the member has no address for it.
    """
    queued: list[Notification | None] = []
    for message in messages:
        if message["template"] not in TEMPLATES:
            raise ValueError(f"unknown template {message['template']!r}")
        chosen = message.get("channel")
        if chosen is not None:
            channel, recipient = chosen, message["email"] if chosen == "email" else message["phone"]
        else:
            channel, recipient = ("email", message["email"]) if message["email"] else ("sms", message["phone"])
        queued.append(
            Notification(
                member_id=message["member_id"],
                channel=channel,
                recipient=recipient,
                template=message["template"],
                data=dict(message["data"]),
            )
            if recipient
            else None
        )
    notifications = [n for n in queued if n is not None]
    if notifications:
        session.add_all(notifications)
        session.flush()
        add_tasks(session, deliver_notification, [{"notification_id": n.id} for n in notifications])
    return queued


@task(queue="notifications")
def deliver_notification(session: Session, *, notification_id: str) -> None:
    """Send one notification through the configured backend, once."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.status != "pending":
        return
    if notification.recipient is None:  # the member was erased before delivery
        notification.status = "cancelled"
        return
    subject, body = TEMPLATES[notification.template]
    backend = delivery.backend()
    backend.send(
        channel=notification.channel,
        recipient=notification.recipient,
        subject=subject.format(**notification.data),
        body=body.format(**notification.data),
    )
    notification.status = "sent"
    if notification.template in ONE_TIME_SECRETS:
        notification.data = {}  # a code or link is of no use to keep once delivered
    notification.backend = backend.name
    notification.sent_at = utcnow()


def forget_recipient(session: Session, *, member_id: str) -> None:
    """Remove personal data from a member's notifications (erasure)."""
    for notification in session.scalars(select(Notification).where(Notification.member_id == member_id)):
        notification.recipient = None
        notification.data = {}
        if notification.status == "pending":
            notification.status = "cancelled"


def list_notifications(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    member_id: str | None = None,
    status: str | None = None,
) -> Page[Notification]:
    """Notifications, newest first."""
    query = select(Notification)
    if member_id:
        query = query.where(Notification.member_id == member_id)
    if status:
        query = query.where(Notification.status == status)
    return paginate(session, query, Notification.id, limit=limit, cursor=cursor)


def get_notification(session: Session, notification_id: str) -> Notification:
    notification = session.get(Notification, notification_id)
    if notification is None:
        raise NotFound("No such notification.")
    return notification
