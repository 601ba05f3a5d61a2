"""The signed-in member's own pages: home (points, tier, card, latest activity) and the whole activity."""

from __future__ import annotations

from functools import lru_cache

from flask import Response, render_template, request
from markupsafe import Markup

from loyalty.accounts.statement import explain, merchants_in_activity, points_summary
from loyalty.errors import ValidationFailed
from loyalty.ledger.queries import KINDS, list_activity
from loyalty.members.qr import card_svg
from loyalty.tiers.services import list_tiers, standing
from member_portal import bp
from member_portal.auth import current_member, member_required
from web.extensions import db

LATEST = 5
PAGE = 25


@lru_cache(maxsize=4096)
def card_qr(card_number: str) -> Markup:
    """The card's QR code for the page; a card's number never changes, so it is drawn once per process."""
    return inline_qr(card_svg(card_number), card_number)


def inline_qr(svg: bytes, label: str) -> Markup:
    """An SVG QR code to put in the page itself (no second request), named for screen readers."""
    text = svg.decode()
    start = text.index("<svg")
    text = text[start:]
    head, rest = text.split(">", 1)
    head = head.replace(' width="', ' data-width="').replace(' height="', ' data-height="')
    # The SVG is drawn here by the qrcode library from a card number or code: markup we made, not input.
    svg_head, svg_rest = Markup(head), Markup(rest)  # noqa: S704
    return Markup('{} role="img" aria-label="{}" class="qr">{}').format(svg_head, label, svg_rest)


@bp.get("/")
@member_required
def home():
    member = current_member()
    summary = points_summary(db.session, member)
    tier = standing(db.session, member)
    page = list_activity(db.session, member_id=member.id, limit=LATEST, cursor=None)
    return render_template(
        "portal/home.html",
        member=member,
        summary=summary,
        standing=tier,
        tiers=list_tiers(db.session) if tier else [],
        card=card_qr(member.card_number) if member.card_number else None,
        entries=page.items,
        reasons=explain(db.session, page.items),
    )


@bp.get("/card.svg")
@member_required
def card():
    member = current_member()
    return Response(
        card_svg(member.card_number),
        mimetype="image/svg+xml",
        headers={"Content-Disposition": 'attachment; filename="card.svg"', "Cache-Control": "private, no-store"},
    )


@bp.get("/activity")
@member_required
def activity():
    member = current_member()
    kind = request.args.get("kind") or None
    merchant = request.args.get("merchant") or None
    cursor = request.args.get("cursor") or None
    merchants = merchants_in_activity(db.session, member.id)
    if kind not in (None, *KINDS):
        kind = None
    if merchant is not None and merchant not in {merchant_id for merchant_id, _ in merchants}:
        merchant = None
    try:
        page = list_activity(
            db.session, member_id=member.id, limit=PAGE, cursor=cursor, kind=kind, merchant_id=merchant
        )
    except ValidationFailed:  # a cursor this portal did not give out: start from the newest
        cursor = None
        page = list_activity(db.session, member_id=member.id, limit=PAGE, cursor=None, kind=kind, merchant_id=merchant)
    return render_template(
        "portal/activity.html",
        entries=page.items,
        reasons=explain(db.session, page.items),
        next_cursor=page.next_cursor,
        first_page=cursor is None,
        kinds=KINDS,
        kind=kind,
        merchants=merchants,
        merchant=merchant,
    )
