from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, requires
from api.common import page_body
from api.members.schemas import (
    ActivityArgs,
    ActivityPage,
    AdjustmentReceiptSchema,
    AdjustmentSchema,
    CardImageArgs,
    ClaimResultSchema,
    ClaimSchema,
    MemberCreateSchema,
    MemberListArgs,
    MemberPage,
    MemberPatchSchema,
    MemberSchema,
    member_body,
)
from api.ratelimits import limited
from loyalty.actors import Role
from loyalty.errors import Forbidden, NotFound, ValidationFailed
from loyalty.idempotency import request_hash
from loyalty.ledger.adjustments import adjust_points
from loyalty.ledger.queries import list_activity
from loyalty.ledger.services import balance
from loyalty.members import qr
from loyalty.members import services as members
from loyalty.members.lookup import look_up_member
from loyalty.purchases.services import claim_purchase
from loyalty.tiers.services import standing as tier_standing
from loyalty.tiers.services import standings as tier_standings
from web.extensions import db

blp = Blueprint("members", __name__, url_prefix="/members", description="Members of the program.")

IDENTIFIERS = ("card_number", "email", "phone")
BROWSING_ROLES = (Role.ADMIN, Role.MARKETER)


_UNREAD = object()


def _body(member, standing=_UNREAD) -> dict:
    if standing is _UNREAD:
        standing = tier_standing(db.session, member)
    return member_body(member, balance(db.session, member), standing)


def _bodies(found) -> list[dict]:
    """Many members, their tier standings read together."""
    standings = tier_standings(db.session, found)
    return [member_body(m, balance(db.session, m), standings[m.id]) for m in found]


def _query_phone(value: str | None) -> str | None:
    # An unencoded "+" in a query string arrives as a space.
    if value and value.startswith(" ") and value[1:].isdigit():
        return "+" + value[1:]
    return value


def _enrolling_key() -> str | None:
    # The operator's admin keys are not limited (bulk enrolment, migrations); tills are.
    actor = current_actor()
    return None if actor.role is Role.ADMIN else actor.key_id


@blp.route("")
class MembersView(MethodView):
    @requires(Role.ADMIN, Role.TERMINAL)
    @limited(
        "RATE_LIMIT_ENROLMENTS",
        "enrolments",
        lambda _kwargs: _enrolling_key(),
        "This key has enrolled too many members lately; try again after Retry-After seconds.",
    )
    @blp.arguments(MemberCreateSchema)
    @blp.response(201, MemberSchema)
    def post(self, data):
        """Enrol a member (at least an email or a phone); a card number is issued and a welcome sent.

        409 `member_exists` when the email or phone is already enrolled. A terminal key may enrol
        `RATE_LIMIT_ENROLMENTS` members (100 an hour unless configured); past it, 429 `rate_limited`.
        """
        member = members.enrol_member(db.session, **data, actor=current_actor())
        db.session.commit()
        return _body(member)

    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    # An instance: given the class, webargs builds a new schema on every request (every till look-up).
    @blp.arguments(MemberListArgs(), location="query")
    @blp.response(200, MemberPage)
    def get(self, args):
        """Look a member up by `card_number`, `email` or `phone` (one of them), or list members.

        A look-up answers a page of at most one member. Listing without an
        identifier is for admin and marketer keys.
        """
        args["phone"] = _query_phone(args["phone"])
        given = {name: args[name] for name in IDENTIFIERS if args[name]}
        if len(given) > 1:
            raise ValidationFailed(
                "Look a member up by one identifier at a time.",
                errors={name: ["Give only one identifier."] for name in given},
            )
        if given:
            found = look_up_member(db.session, **given)
            if found is not None and args["status"] and found.member.status != args["status"]:
                found = None
            if found is None:
                return {"items": [], "next_cursor": None}
            return {"items": [_body(found.member, found.standing)], "next_cursor": None}
        if current_actor().role not in BROWSING_ROLES:
            raise Forbidden("Look a member up by card_number, email or phone.")
        page = members.list_members(db.session, limit=args["limit"], cursor=args["cursor"], status=args["status"])
        return page_body(page) | {"items": _bodies(page.items)}


@blp.route("/<member_id>")
class MemberView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.response(200, MemberSchema)
    def get(self, member_id):
        """Read a member: card, contact, tier, balance and lifecycle stage."""
        member = members.get_member(db.session, member_id)
        if member.status == members.CLOSED and current_actor().role not in BROWSING_ROLES:
            raise NotFound("No such member.")
        return _body(member)

    @requires(Role.ADMIN)
    @blp.arguments(MemberPatchSchema)
    @blp.response(200, MemberSchema)
    def patch(self, data, member_id):
        """Change a member's contact details, language, marketing consent or status."""
        member = members.update_member(db.session, member_id=member_id, changes=data, actor=current_actor())
        db.session.commit()
        return _body(member)

    @requires(Role.ADMIN)
    @blp.response(200, MemberSchema)
    def delete(self, member_id):
        """Erase the member's personal data and close the account; the ledger stays, anonymised."""
        member = members.erase_member(db.session, member_id=member_id, actor=current_actor())
        db.session.commit()
        return _body(member)


def _card_number_for(member_id: str) -> str:
    member = members.get_member(db.session, member_id)
    if member.card_number is None:
        raise NotFound("This member has no card.")
    return member.card_number


_IMAGE_HEADERS = {"Cache-Control": "private, max-age=3600"}


@blp.route("/<member_id>/card.svg")
class MemberCardSvgView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.response(200, content_type="image/svg+xml", description="A QR code of the card number.")
    def get(self, member_id):
        """The member's card as an SVG QR code of the card number."""
        svg = qr.card_svg(_card_number_for(member_id))
        return Response(svg, mimetype="image/svg+xml", headers=_IMAGE_HEADERS)


@blp.route("/<member_id>/card.png")
class MemberCardPngView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)
    @blp.arguments(CardImageArgs, location="query")
    @blp.response(200, content_type="image/png", description="A QR code of the card number.")
    def get(self, args, member_id):
        """The member's card as a PNG QR code of the card number (`?size=` pixels per module)."""
        png = qr.card_png(_card_number_for(member_id), box_size=args["size"])
        return Response(png, mimetype="image/png", headers=_IMAGE_HEADERS)


@blp.route("/<member_id>/activity")
class MemberActivityView(MethodView):
    @requires(Role.ADMIN, Role.MARKETER)
    @blp.arguments(ActivityArgs, location="query")
    @blp.response(200, ActivityPage)
    def get(self, args, member_id):
        """The member's ledger, newest first: every change of points with its reason."""
        members.get_member(db.session, member_id)
        return page_body(list_activity(db.session, member_id=member_id, **args))


@blp.route("/<member_id>/claims")
class MemberClaimsView(MethodView):
    @requires(Role.ADMIN)
    @limited(
        "RATE_LIMIT_CLAIM_FAILURES",
        "claim-failures",
        lambda kwargs: kwargs.get("member_id"),
        "Too many failed claims for this member lately; try again after Retry-After seconds.",
        failures_only=True,
    )
    @blp.arguments(ClaimSchema)
    @blp.response(201, ClaimResultSchema)
    def post(self, data, member_id):
        """Give the member the points of a purchase made without the card, within the program's claim window.

        409 `already_claimed` when the code was claimed before; 404 for a code no purchase has; 409
        `invalid_state` once the claim window has closed. After `RATE_LIMIT_CLAIM_FAILURES` failed
        claims for one member (10 an hour unless configured), 429 `rate_limited` until the window passes.
        """
        members.get_member(db.session, member_id)
        result = claim_purchase(db.session, member_id=member_id, claim_code=data["claim_code"], actor=current_actor())
        db.session.commit()
        return result


@blp.route("/<member_id>/adjustments")
class MemberAdjustmentsView(MethodView):
    @requires(Role.ADMIN)
    @blp.arguments(AdjustmentSchema)
    @blp.response(201, AdjustmentReceiptSchema)
    @blp.alt_response(
        200, schema=AdjustmentReceiptSchema, description="A replay: the same idempotency_key and body again."
    )
    def post(self, data, member_id):
        """Add or take a member's points by hand, with a reason (audited as `member.adjust`).

        Positive `points` are added, available at once and expiring as the program's points do; negative
        `points` are taken, soonest expiring first, and 422 `insufficient_points` when the available balance
        would go below zero. The reason is the `adjust` entry's note. The same `idempotency_key` for the same
        member with the same body answers 200 with the identical body and `Idempotent-Replayed: true`; with
        a different body, 409 `idempotency_conflict`. 409 `invalid_state` for a closed account.
        """
        outcome = adjust_points(
            db.session,
            member_id=member_id,
            points=data["points"],
            reason=data["reason"],
            idempotency_key=data["idempotency_key"],
            fingerprint=request_hash(request.get_json()),
            actor=current_actor(),
        )
        db.session.commit()
        response = Response(outcome.receipt_json, status=200 if outcome.replayed else 201, mimetype="application/json")
        if outcome.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response
